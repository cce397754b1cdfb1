// A mode's per-session state, typed and kept in memory. It is encoded only when a snapshot or a
// checkpoint is written, so the cost of one message never grows with the session's length
// (issue #8 case 5): a mode validates a message against the state it holds and hands back a
// commit step that the kernel runs once the message is durable.
#pragma once

#include <memory>
#include <string>
#include <utility>

namespace macp::modes {

class ModeState {
public:
    virtual ~ModeState() = default;
    ModeState() = default;
    ModeState(const ModeState&) = default;
    ModeState& operator=(const ModeState&) = default;
    ModeState(ModeState&&) = default;
    ModeState& operator=(ModeState&&) = default;

    // The mode's canonical bytes (MODE-GEN-2): equal states encode to identical bytes, and the
    // owning mode's decode_state() reads them back into an equal state.
    [[nodiscard]] virtual std::string encode() const = 0;
    [[nodiscard]] virtual std::unique_ptr<ModeState> clone() const = 0;
};

// Value semantics over a ModeState: copying a Session copies its state (rare: tests and replay
// checks); moving is free. Empty until the mode's on_session_start() fills it.
class ModeStateBox {
public:
    ModeStateBox() = default;
    explicit ModeStateBox(std::unique_ptr<ModeState> s) : state_(std::move(s)) {}
    ModeStateBox(const ModeStateBox& o) : state_(o.state_ ? o.state_->clone() : nullptr) {}
    ModeStateBox& operator=(const ModeStateBox& o) {
        if (this != &o) state_ = o.state_ ? o.state_->clone() : nullptr;
        return *this;
    }
    ModeStateBox(ModeStateBox&&) noexcept = default;
    ModeStateBox& operator=(ModeStateBox&&) noexcept = default;
    ~ModeStateBox() = default;

    [[nodiscard]] explicit operator bool() const { return state_ != nullptr; }
    [[nodiscard]] ModeState* get() { return state_.get(); }
    [[nodiscard]] const ModeState* get() const { return state_.get(); }
    // The encoded bytes, or "" when there is no state.
    [[nodiscard]] std::string encode() const { return state_ ? state_->encode() : std::string(); }

    // The state as the mode's concrete type, or nullptr if it holds something else.
    template <class T>
    [[nodiscard]] const T* as() const {
        return dynamic_cast<const T*>(state_.get());
    }
    template <class T>
    [[nodiscard]] T* as() {
        return dynamic_cast<T*>(state_.get());
    }

private:
    std::unique_ptr<ModeState> state_;
};

// Adapts a plain copyable struct with an `encode_fn` into a ModeState. Modes whose state is one
// struct use `StateOf<MyState, &encode_my_state>`.
template <class T, std::string (*Encode)(const T&)>
class StateOf final : public ModeState {
public:
    StateOf() = default;
    explicit StateOf(T v) : value(std::move(v)) {}
    [[nodiscard]] std::string encode() const override { return Encode(value); }
    [[nodiscard]] std::unique_ptr<ModeState> clone() const override { return std::make_unique<StateOf>(*this); }
    T value;
};

}  // namespace macp::modes
