#include "modes/passthrough.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"

namespace macp::modes {

using protocol::Error;
using protocol::ErrorKind;

namespace {

// MODE-PT-5: the state is the raw bytes of the last accepted non-Commitment payload, written and
// read back verbatim.
std::string raw_bytes(const std::string& bytes) {
    return bytes;
}

using PassthroughState = StateOf<std::string, &raw_bytes>;

}  // namespace

PassthroughMode::PassthroughMode(ModeDescriptor descriptor, bool promoted)
    : descriptor_(std::move(descriptor)), promoted_(promoted) {}

ModeResult<std::unique_ptr<ModeState>> PassthroughMode::on_session_start(const SessionView&) const {
    std::unique_ptr<ModeState> state = std::make_unique<PassthroughState>();  // MODE-PT-2: empty, participants optional
    return state;
}

ModeResult<std::unique_ptr<ModeState>> PassthroughMode::decode_state(const std::string& bytes) const {
    std::unique_ptr<ModeState> state = std::make_unique<PassthroughState>(bytes);
    return state;
}

ModeResult<bool> PassthroughMode::authorize(const MessageContext& ctx) const {
    // MODE-PT-3: only the declared types (SessionStart is handled by the kernel). Registration
    // guarantees the list is non-empty and holds no runtime-reserved type (DISC-8).
    const auto& types = descriptor_.message_types;
    if (ctx.message_type == "SessionStart" || std::find(types.begin(), types.end(), ctx.message_type) == types.end()) {
        return fail(Error(ErrorKind::InvalidPayload, "message type not declared by the extension"));
    }
    if (ctx.message_type == "Commitment") {  // MODE-PT-4 / Q-34: initiator only
        if (ctx.sender != ctx.session.initiator) return fail(Error(ErrorKind::Forbidden));
        return true;
    }
    if (!ctx.session.participants.empty() && !ctx.session.is_participant(ctx.sender)) {
        return fail(Error(ErrorKind::Forbidden));
    }
    return true;
}

ModeResult<Outcome> PassthroughMode::apply(const MessageContext& ctx) const {
    // The commit step below may then take the state's type for granted.
    auto held = state_of<PassthroughState>(ctx);
    if (!held) return fail(held.error());
    if (ctx.message_type != "Commitment") {  // MODE-PT-5
        return Outcome{[payload = ctx.payload](ModeState& m) mutable {
                           static_cast<PassthroughState&>(m).value = std::move(payload);
                       },
                       std::nullopt};
    }
    auto c = validate_commitment(ctx.session, ctx.payload);  // MODE-PT-6
    if (!c) return fail(c.error());
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("action");
    w.String(c->action().data(), static_cast<rapidjson::SizeType>(c->action().size()));
    w.Key("commitment_id");
    w.String(c->commitment_id().data(), static_cast<rapidjson::SizeType>(c->commitment_id().size()));
    w.EndObject();
    return Outcome{{}, std::string(buf.GetString(), buf.GetSize())};  // the state stays as it was
}

}  // namespace macp::modes
