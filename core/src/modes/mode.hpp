// The contract between the kernel and a coordination mode. A mode is a pure function over session
// state: it never touches storage, clocks or gRPC; the kernel passes everything it may look at.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/errors.hpp"
#include "modes/session_view.hpp"
#include "modes/mode_state.hpp"
#include "util/result.hpp"

namespace macp::modes {

struct ModeDescriptor {
    std::string mode;
    std::string mode_version;
    std::string title;
    std::string description;
    std::string determinism_class;
    std::string participant_model;
    std::vector<std::string> message_types;
    std::vector<std::string> terminal_message_types;
    std::map<std::string, std::string> schema_uris;
};

// Everything a mode may consult for one message.
struct MessageContext {
    const SessionView& session;
    const std::string& sender;
    const std::string& message_type;
    const std::string& payload;
    int64_t accepted_at_ms;  // one server clock reading per message, replayed verbatim (MSG-4)
};

// What the kernel should do after an accepted message.
struct Outcome {
    // Applies the accepted message to the session's state. The kernel runs it only once the
    // message is durable, so a rejected message or a failed append leaves the state untouched;
    // it cannot fail and costs what the message costs, never what the session holds. Receives
    // the same ModeState the mode validated against. Empty: the state does not change.
    std::function<void(ModeState&)> commit;
    std::optional<std::string> resolution;  // set => the session becomes RESOLVED (LIFE-3)
};

template <class T>
using ModeResult = Result<T, protocol::Error>;

class Mode {
public:
    virtual ~Mode() = default;
    [[nodiscard]] virtual const ModeDescriptor& descriptor() const = 0;
    // Strict SessionStart validation (SS-3) applies to standards-track and built-in extensions.
    [[nodiscard]] virtual bool strict() const = 0;
    [[nodiscard]] virtual bool standards_track() const = 0;
    // Validates mode-specific SessionStart rules and returns the initial mode state (SS-11).
    [[nodiscard]] virtual ModeResult<std::unique_ptr<ModeState>> on_session_start(const SessionView& session) const = 0;
    // Reads back what ModeState::encode() wrote (checkpoints, snapshots: STO-CKPT-*). Must accept
    // every state this mode can reach, whatever its size; InvalidModeState for foreign bytes.
    [[nodiscard]] virtual ModeResult<std::unique_ptr<ModeState>> decode_state(const std::string& bytes) const = 0;
    // Who may send this message type (MODE-GEN-3); runs before validation.
    [[nodiscard]] virtual ModeResult<bool> authorize(const MessageContext& ctx) const = 0;
    // Validates the message against ctx.session.mode_state without changing anything; an
    // accepted message comes back as an Outcome whose commit step the kernel runs later.
    [[nodiscard]] virtual ModeResult<Outcome> apply(const MessageContext& ctx) const = 0;
};

}  // namespace macp::modes
