#include "service/convert.hpp"

#include <grpcpp/grpcpp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "auth/certificate_resolver.hpp"

namespace macp::service {

namespace {
// RPC-SEND-5: details only for POLICY_DENIED, as JSON {"reasons":[...]}.
std::string error_details(const protocol::Error& e) {
    if (e.kind != protocol::ErrorKind::PolicyDenied) return {};
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("reasons");
    w.StartArray();
    for (const auto& r : e.reasons) w.String(r.data(), static_cast<rapidjson::SizeType>(r.size()));
    w.EndArray();
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}
}  // namespace

void to_proto(const kernel::Ack& a, macp::v1::Ack* out) {
    out->set_ok(a.ok);
    out->set_duplicate(a.duplicate);
    out->set_message_id(a.message_id);
    out->set_session_id(a.session_id);
    out->set_accepted_at_unix_ms(a.accepted_at_ms);
    out->set_session_state(static_cast<macp::v1::SessionState>(a.session_state));
    if (a.error) {
        auto* e = out->mutable_error();
        e->set_code(a.error->code());
        e->set_message(a.error->display());  // ERR-22
        e->set_session_id(a.session_id);
        e->set_message_id(a.message_id);
        e->set_details(error_details(*a.error));
    }
}

void to_proto(const kernel::Session& s, macp::v1::SessionMetadata* out) {
    out->set_session_id(s.session_id);
    out->set_mode(s.mode);
    out->set_state(static_cast<macp::v1::SessionState>(s.state));
    out->set_started_at_unix_ms(s.started_at_ms);
    out->set_expires_at_unix_ms(s.ttl_expiry_ms);  // RPC-GET-5
    out->set_mode_version(s.mode_version);
    out->set_configuration_version(s.configuration_version);
    out->set_policy_version(s.policy_version);
    for (const auto& p : s.participants) out->add_participants(p);
    for (const auto& [sender, a] : s.activity) {  // RPC-GET-7
        auto* pa = out->add_participant_activity();
        pa->set_participant_id(sender);
        pa->set_last_message_at_unix_ms(a.last_message_at_ms);
        pa->set_message_count(a.message_count);
    }
    out->set_initiator(s.initiator);
    out->set_context_id(s.context_id);
    for (const auto& [k, v] : s.extensions) out->add_extension_keys(k);  // RPC-GET-8
}

modes::ModeDescriptor from_proto(const macp::v1::ModeDescriptor& d) {
    return modes::ModeDescriptor{d.mode(),
                                 d.mode_version(),
                                 d.title(),
                                 d.description(),
                                 d.determinism_class(),
                                 d.participant_model(),
                                 {d.message_types().begin(), d.message_types().end()},
                                 {d.terminal_message_types().begin(), d.terminal_message_types().end()},
                                 {d.schema_uris().begin(), d.schema_uris().end()}};
}

void to_proto(const modes::ModeDescriptor& d, macp::v1::ModeDescriptor* out) {
    out->set_mode(d.mode);
    out->set_mode_version(d.mode_version);
    out->set_title(d.title);
    out->set_description(d.description);
    out->set_determinism_class(d.determinism_class);
    out->set_participant_model(d.participant_model);
    for (const auto& t : d.message_types) out->add_message_types(t);
    for (const auto& t : d.terminal_message_types) out->add_terminal_message_types(t);
    for (const auto& [k, v] : d.schema_uris) (*out->mutable_schema_uris())[k] = v;
}

auth::Metadata metadata_of(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
    auth::Metadata out;
    out.reserve(md.size());
    for (const auto& [k, v] : md) out.emplace_back(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    return out;
}

auth::Metadata metadata_of(const grpc::ServerContextBase& ctx, bool peer_identity) {
    auto out = metadata_of(ctx.client_metadata());
    if (!peer_identity) return out;
    const auto peer = ctx.auth_context();
    if (peer && peer->IsPeerAuthenticated()) {
        // gRPC names the identity property: the subject alternative names when the certificate
        // has any, else its common name. The first one is the identity.
        for (const auto& value : peer->GetPeerIdentity()) {
            out.emplace_back(std::string(auth::kPeerCertificateIdentityKey), std::string(value.data(), value.size()));
            break;
        }
    }
    return out;
}

}  // namespace macp::service
