#include "modes/passthrough.hpp"

#include <algorithm>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "modes/commitment.hpp"

namespace macp::modes {

using kernel::Error;
using kernel::ErrorKind;

PassthroughMode::PassthroughMode(ModeDescriptor descriptor, bool promoted)
    : descriptor_(std::move(descriptor)), promoted_(promoted) {}

ModeResult<std::string> PassthroughMode::on_session_start(const kernel::Session&) const {
    return std::string();  // MODE-PT-2: empty initial state, participants optional
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
    if (ctx.message_type != "Commitment") return Outcome{ctx.payload, std::nullopt};  // MODE-PT-5
    auto c = validate_commitment(ctx.session, ctx.payload);                           // MODE-PT-6
    if (!c) return fail(c.error());
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("action");
    w.String(c->action().data(), static_cast<rapidjson::SizeType>(c->action().size()));
    w.Key("commitment_id");
    w.String(c->commitment_id().data(), static_cast<rapidjson::SizeType>(c->commitment_id().size()));
    w.EndObject();
    return Outcome{ctx.session.mode_state, std::string(buf.GetString(), buf.GetSize())};
}

}  // namespace macp::modes
