// Envelope payloads: which protobuf message each (mode, message type) carries (the same mapping
// core/src/modes and core/src/kernel decode with), JSON -> payload bytes for --payload-json, and
// payload bytes -> JSON for display.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

namespace macpctl {

struct PayloadBinding {
    std::string mode;          // "" = every mode (the core types: SessionStart, Commitment, ...)
    std::string message_type;  // Envelope.message_type
    const google::protobuf::Message* prototype;
};

const std::vector<PayloadBinding>& payload_bindings();
// The payload message of `message_type` in `mode` (a mode's own types first, then the core ones);
// nullptr when the type carries opaque bytes (extension modes) or is unknown.
const google::protobuf::Message* payload_prototype(const std::string& mode, const std::string& message_type);
// A message by full name (macp.modes.decision.v1.VotePayload); nullptr if not linked in.
const google::protobuf::Message* prototype_by_name(const std::string& full_name);
// Proto3 JSON -> serialized `prototype` message; UsageError (naming `what`) on bad JSON or fields.
std::string json_to_payload(const google::protobuf::Message& prototype, const std::string& json,
                            const std::string& what);
// JSON text for showing a payload: the decoded message of its type, or the payload itself when it is
// a JSON document (multi_round contributions, most extension-mode traffic); nullopt otherwise.
std::optional<std::string> payload_as_json(const std::string& mode, const std::string& message_type,
                                           const std::string& payload);

}  // namespace macpctl
