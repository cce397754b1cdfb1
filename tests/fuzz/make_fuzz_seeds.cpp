// Writes the seed corpora of envelope_admission, ext_mode_descriptor, static_tokens and jwt_jwks
// (issue #15) from the project's own definitions: every mode's payload messages filled in through
// protobuf reflection, descriptors and token tables like the docs show, and JWTs and JWKS made
// with the auth-jwt tests' forge (OpenSSL). Run by hand when a format changes:
//
//   build/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>

#include "jwt_forge.hpp"
#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/modes/handoff/v1/handoff.pb.h"
#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/modes/quorum/v1/quorum.pb.h"
#include "macp/modes/task/v1/task.pb.h"
#include "macp/v1/core.pb.h"
#include "macp/v1/envelope.pb.h"

namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out << bytes;
}

// Plausible values for every field, by type: the same ids everywhere, so that messages refer to
// each other (a Vote names the proposal a Proposal made).
void fill(pb::Message& m) {
    const pb::Descriptor* d = m.GetDescriptor();
    const pb::Reflection* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
        const pb::FieldDescriptor* f = d->field(i);
        const std::string& n = f->name();
        std::string text = n.find("participant") != std::string::npos || n.find("agent") != std::string::npos ||
                                   n.find("owner") != std::string::npos || n.find("_to") != std::string::npos
                               ? "agent://fuzz-b"
                           : n.find("vote") != std::string::npos || n.find("recommendation") != std::string::npos
                               ? "APPROVE"
                               : n + "-1";
        switch (f->cpp_type()) {
            case pb::FieldDescriptor::CPPTYPE_STRING:
                f->is_repeated() ? r->AddString(&m, f, text) : r->SetString(&m, f, text);
                break;
            case pb::FieldDescriptor::CPPTYPE_DOUBLE:
                f->is_repeated() ? r->AddDouble(&m, f, 0.9) : r->SetDouble(&m, f, 0.9);
                break;
            case pb::FieldDescriptor::CPPTYPE_FLOAT:
                f->is_repeated() ? r->AddFloat(&m, f, 0.9F) : r->SetFloat(&m, f, 0.9F);
                break;
            case pb::FieldDescriptor::CPPTYPE_INT32:
                f->is_repeated() ? r->AddInt32(&m, f, 1) : r->SetInt32(&m, f, 1);
                break;
            case pb::FieldDescriptor::CPPTYPE_INT64:
                f->is_repeated() ? r->AddInt64(&m, f, 1) : r->SetInt64(&m, f, 1);
                break;
            case pb::FieldDescriptor::CPPTYPE_UINT32:
                f->is_repeated() ? r->AddUInt32(&m, f, 2) : r->SetUInt32(&m, f, 2);
                break;
            case pb::FieldDescriptor::CPPTYPE_UINT64:
                f->is_repeated() ? r->AddUInt64(&m, f, 2) : r->SetUInt64(&m, f, 2);
                break;
            case pb::FieldDescriptor::CPPTYPE_BOOL:
                f->is_repeated() ? r->AddBool(&m, f, true) : r->SetBool(&m, f, true);
                break;
            case pb::FieldDescriptor::CPPTYPE_ENUM:
                if (!f->is_repeated() && f->enum_type()->value_count() > 1) r->SetEnum(&m, f, f->enum_type()->value(1));
                break;
            case pb::FieldDescriptor::CPPTYPE_MESSAGE:
                if (!f->is_repeated() && !f->is_map()) fill(*r->MutableMessage(&m, f));
                break;
        }
    }
}

std::string envelope(const std::string& type, const std::string& payload, const std::string& id) {
    macp::v1::Envelope e;
    e.set_macp_version("1.0");
    e.set_message_type(type);
    e.set_message_id(id);
    e.set_payload(payload);
    e.set_timestamp_unix_ms(1'700'000'000'000);
    return e.SerializeAsString();
}

void envelope_seeds(const fs::path& dir) {
    // route 1..6 = the live session of these modes, in the target's order (7: the passthrough).
    const std::vector<const pb::FileDescriptor*> files = {
        macp::modes::decision::v1::ProposalPayload::descriptor()->file(),
        macp::modes::proposal::v1::ProposalPayload::descriptor()->file(),
        macp::modes::task::v1::TaskRequestPayload::descriptor()->file(),
        macp::modes::handoff::v1::HandoffOfferPayload::descriptor()->file(),
        macp::modes::quorum::v1::ApprovalRequestPayload::descriptor()->file(),
        macp::modes::multi_round::v1::ContributePayload::descriptor()->file()};
    pb::DynamicMessageFactory factory;
    int n = 0;
    for (size_t mode = 0; mode < files.size(); ++mode) {
        for (int i = 0; i < files[mode]->message_type_count(); ++i) {
            const pb::Descriptor* d = files[mode]->message_type(i);
            std::string type = d->name();
            const std::string suffix = "Payload";
            if (type.size() > suffix.size() && type.compare(type.size() - suffix.size(), suffix.size(), suffix) == 0) {
                type.resize(type.size() - suffix.size());
            }
            std::unique_ptr<pb::Message> m(factory.GetPrototype(d)->New());
            fill(*m);
            for (const uint8_t who : {0, 8}) {  // from the initiator, from the other participant
                const auto route = static_cast<char>(static_cast<uint8_t>(mode + 1) | who);
                write(dir, "mode" + std::to_string(mode + 1) + "-" + type + (who ? "-other" : ""),
                      std::string(1, route) + envelope(type, m->SerializeAsString(), "m" + std::to_string(++n)));
            }
        }
        macp::v1::CommitmentPayload c;
        fill(c);
        c.set_mode_version("1.0.0");
        c.set_configuration_version("cfg-1");
        c.set_policy_version("policy.default");
        write(dir, "mode" + std::to_string(mode + 1) + "-Commitment",
              std::string(1, static_cast<char>(mode + 1)) +
                  envelope("Commitment", c.SerializeAsString(), "c" + std::to_string(++n)));
    }
    macp::v1::SessionStartPayload start;
    start.set_intent("seed");
    start.add_participants("agent://fuzz-a");
    start.add_participants("agent://fuzz-b");
    start.set_mode_version("1.0.0");
    start.set_configuration_version("cfg-1");
    start.set_ttl_ms(60'000);
    (*start.mutable_extensions())["ext.seed"] = "x";
    for (uint8_t mode = 1; mode <= 7; ++mode) {  // route: top three bits set = a SessionStart of that mode
        write(
            dir, "start-mode" + std::to_string(mode),
            std::string(1, static_cast<char>(0xE0 | mode)) + envelope("SessionStart", start.SerializeAsString(), "s1"));
    }
    for (const char* type : {"Note", "Data", "Commitment"}) {  // the passthrough extension: any bytes
        write(dir, std::string("mode7-") + type, std::string(1, '\x07') + envelope(type, "{\"k\":1}", "p1"));
    }
    macp::v1::Envelope raw;  // route 0: admission as sent, a Signal with no session
    raw.set_macp_version("1.0");
    raw.set_message_type("Signal");
    raw.set_message_id("sig-1");
    raw.set_payload("{}");
    write(dir, "signal", std::string(1, '\x10') + raw.SerializeAsString());
}

void ext_mode_seeds(const fs::path& dir) {
    macp::v1::RegisterExtModeRequest req;
    auto* d = req.mutable_mode_descriptor();
    d->set_mode("ext.seed.v1");
    d->set_mode_version("1.0.0");
    d->set_title("Seed");
    d->set_description("a seed extension");
    d->set_determinism_class("structural-only");
    d->set_participant_model("peer");
    d->add_message_types("Note");
    d->add_message_types("Commitment");
    d->add_terminal_message_types("Commitment");
    (*d->mutable_schema_uris())["json"] = "https://example.invalid/seed";
    write(dir, "descriptor", req.SerializeAsString());
    d->clear_terminal_message_types();
    write(dir, "no-terminal", req.SerializeAsString());
}

void static_token_seeds(const fs::path& dir) {
    write(dir, "one", R"({"tokens":[{"token":"tok-a","sender":"agent://a"}]})");
    write(dir, "full",
          R"({"tokens":[{"token":"tok-a","sender":"agent://a","can_start_sessions":true,)"
          R"("can_manage_mode_registry":true,"allowed_modes":["macp.mode.decision.v1"],)"
          R"("max_open_sessions":5},{"token":"tok-o","sender":"agent://o","is_observer":true}]})");
    write(dir, "duplicate", R"({"tokens":[{"token":"t","sender":"agent://a"},{"token":"t","sender":"agent://b"}]})");
    write(dir, "list", R"([{"token":"tok-a","sender":"agent://a"}])");
}

void jwt_seeds(const fs::path& dir) {
    namespace forge = macp::jwt_forge;
    const std::string secret = "secret-secret-secret-secret-0001";  // the target's "right" key
    const std::string claims = R"({"iss":"https://issuer.test","aud":"macp-runtime","sub":"agent://a",)"
                               R"("exp":1900000000,"nbf":1700000000,"macp_scopes":{"can_start_sessions":true}})";
    write(dir, "hs256", std::string(1, '\0') + forge::hs256(secret, claims, "k1"));
    write(dir, "hs256-nokid", std::string(1, '\0') + forge::hs256(secret, claims));
    write(dir, "hs256-expired",
          std::string(1, '\0') + forge::hs256(secret,
                                              R"({"iss":"https://issuer.test","aud":"macp-runtime",)"
                                              R"("sub":"agent://a","exp":1600000000})",
                                              "k1"));
    write(dir, "alg-none",
          std::string(1, '\0') + forge::b64url(R"({"alg":"none"})") + "." + forge::b64url(claims) + ".");
    const auto rsa = forge::rsa_key();
    const auto ec = forge::ec_key();
    write(dir, "jwks-all",
          std::string(1, '\1') + forge::jwks({forge::rsa_jwk(rsa.get(), "r1"), forge::ec_jwk(ec.get(), "e1"),
                                              forge::oct_jwk(secret, "k1")}));
    write(dir, "jwks-oct", std::string(1, '\1') + forge::jwks({forge::oct_jwk(secret, "k1")}));
    write(dir, "rs256", std::string(1, '\0') + forge::rs256(rsa.get(), claims, "r1"));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_fuzz_seeds CORPUS_ROOT   (e.g. tests/fuzz/corpus)\n");
        return 2;
    }
    const fs::path root = argv[1];
    envelope_seeds(root / "envelope_admission");
    ext_mode_seeds(root / "ext_mode_descriptor");
    static_token_seeds(root / "static_tokens");
    jwt_seeds(root / "jwt_jwks");
    std::printf("seeds written under %s\n", root.c_str());
    return 0;
}
