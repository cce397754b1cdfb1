// A small expected-style result type: errors are values inside the kernel (std::expected is
// C++23; g++ 12 in C++20 mode does not ship it).
#pragma once

#include <optional>
#include <utility>
#include <variant>

namespace macp {

template <class E>
struct Unexpected {
    E error;
};
template <class E>
Unexpected<std::decay_t<E>> fail(E&& e) {
    return Unexpected<std::decay_t<E>>{std::forward<E>(e)};
}

template <class T, class E>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    template <class G>
    Result(Unexpected<G> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT

    [[nodiscard]] bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    const E& error() const { return std::get<1>(v_); }
    E& error() { return std::get<1>(v_); }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
public:
    Result() = default;
    template <class G>
    Result(Unexpected<G> e) : e_(E(std::move(e.error))) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return !e_.has_value(); }
    explicit operator bool() const { return ok(); }
    const E& error() const { return *e_; }
    E& error() { return *e_; }

private:
    std::optional<E> e_;
};

}  // namespace macp
