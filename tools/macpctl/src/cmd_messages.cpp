// start, send, subscribe: building envelopes and following a session's traffic.
#include <iostream>

#include "cli.hpp"
#include "connection.hpp"
#include "output.hpp"
#include "payloads.hpp"

namespace macpctl {

namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kUnaryDefault = 10s;
constexpr std::chrono::milliseconds kDefaultTtl = 5min;
constexpr const char* kDefaultConfigVersion = "default";

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

macp::v1::Envelope base_envelope(const Invocation& inv, const std::string& type) {
    macp::v1::Envelope env;
    env.set_macp_version(inv.str("macp-version", "1.0"));
    env.set_message_type(type);
    env.set_message_id(inv.has("message-id") ? inv.str("message-id") : new_uuid());
    env.set_sender(inv.str("sender"));
    env.set_timestamp_unix_ms(now_ms());
    return env;
}

void envelope_options(po::options_description& o) {
    value_option(o, "message-id", "ID",
                 "Envelope message id (default: a new UUID v4). Resending the same id is answered as a duplicate, "
                 "not applied twice.");
    value_option(o, "sender", "NAME",
                 "Claimed sender; must equal the authenticated identity (the server fills it in when empty, the "
                 "default).");
    value_option(o, "macp-version", "V", "Envelope macp_version (default 1.0).");
}

int send_envelope(const Invocation& inv, Connection& conn, const macp::v1::Envelope& env, bool quiet) {
    macp::v1::SendRequest req;
    *req.mutable_envelope() = env;
    macp::v1::SendResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().Send(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    if (quiet && resp.ack().ok()) {
        std::cout << resp.ack().session_id() << '\n';
        return kOk;
    }
    return report_ack(inv, resp.ack());
}

// The descriptor version of `mode` (ListModes, then ListExtModes); empty if unknown or unreachable
// (the server then answers the SessionStart itself).
std::string descriptor_version(const Invocation& inv, Connection& conn, const std::string& mode) {
    macp::v1::ListModesResponse standard;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    if (conn.runtime().ListModes(ctx.get(), {}, &standard).ok()) {
        for (const auto& m : standard.modes()) {
            if (m.mode() == mode) return m.mode_version();
        }
    }
    macp::v1::ListExtModesResponse ext;
    auto ctx2 = conn.context(inv.deadline(kUnaryDefault));
    if (conn.runtime().ListExtModes(ctx2.get(), {}, &ext).ok()) {
        for (const auto& m : ext.modes()) {
            if (m.mode() == mode) return m.mode_version();
        }
    }
    return {};
}

int run_start(Invocation& inv) {
    inv.expect_operands(0, "");
    const std::string mode = inv.str("mode");
    if (mode.empty()) throw UsageError("--mode is required (macpctl modes lists them)");
    macp::v1::SessionStartPayload p;
    if (inv.has("payload-json")) {
        const auto json = text_or_file(inv.str("payload-json"), "--payload-json");
        p.ParseFromString(json_to_payload(macp::v1::SessionStartPayload::default_instance(), json, "--payload-json"));
    }
    for (const auto& value : inv.list("participant")) {
        size_t start = 0;
        while (true) {
            const auto comma = value.find(',', start);
            const auto item = trim(value.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            if (!item.empty()) p.add_participants(item);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    if (inv.has("ttl")) {
        p.set_ttl_ms(parse_duration(inv.str("ttl"), "--ttl").count());
    } else if (p.ttl_ms() == 0) {
        p.set_ttl_ms(kDefaultTtl.count());
    }
    if (inv.has("intent")) p.set_intent(inv.str("intent"));
    if (inv.has("config-version")) p.set_configuration_version(inv.str("config-version"));
    if (p.configuration_version().empty()) p.set_configuration_version(kDefaultConfigVersion);
    if (inv.has("policy")) p.set_policy_version(inv.str("policy"));
    if (inv.has("context-id")) p.set_context_id(inv.str("context-id"));
    if (inv.has("max-suspend")) p.set_max_suspend_ms(parse_duration(inv.str("max-suspend"), "--max-suspend").count());
    for (const auto& uri : inv.list("root")) p.add_roots()->set_uri(uri);
    for (const auto& ext : inv.list("extension")) {
        const auto eq = ext.find('=');
        if (eq == std::string::npos || eq == 0)
            throw UsageError("--extension wants KEY=VALUE or KEY=@FILE, got '" + ext + "'");
        (*p.mutable_extensions())[ext.substr(0, eq)] =
            text_or_file(ext.substr(eq + 1), "--extension " + ext.substr(0, eq));
    }
    Connection conn(inv.global);
    if (inv.has("mode-version")) p.set_mode_version(inv.str("mode-version"));
    if (p.mode_version().empty()) p.set_mode_version(descriptor_version(inv, conn, mode));

    auto env = base_envelope(inv, "SessionStart");
    env.set_mode(mode);
    env.set_session_id(inv.has("session") ? inv.str("session") : new_uuid());
    env.set_payload(p.SerializeAsString());
    return send_envelope(inv, conn, env, inv.has("quiet"));
}

// The envelope payload from --payload, --payload-json or --payload-file (at most one).
std::string build_payload(const Invocation& inv, const std::string& mode, const std::string& type) {
    const int given = static_cast<int>(inv.has("payload")) + static_cast<int>(inv.has("payload-json")) +
                      static_cast<int>(inv.has("payload-file"));
    if (given > 1) throw UsageError("give one of --payload, --payload-json and --payload-file");
    if (inv.has("payload-type") && !inv.has("payload-json"))
        throw UsageError("--payload-type goes with --payload-json");
    if (inv.has("payload")) return text_or_file(inv.str("payload"), "--payload");
    if (inv.has("payload-file")) return read_file(inv.str("payload-file"), "--payload-file");
    if (!inv.has("payload-json")) return {};
    const google::protobuf::Message* prototype = nullptr;
    if (inv.has("payload-type")) {
        prototype = prototype_by_name(inv.str("payload-type"));
        if (prototype == nullptr) throw UsageError("--payload-type: unknown message '" + inv.str("payload-type") + "'");
    } else {
        prototype = payload_prototype(mode, type);
        if (prototype == nullptr) {
            throw UsageError("--payload-json: no known payload message for " + type + " in mode '" + mode +
                             "' (name one with --payload-type, or send the bytes with --payload)");
        }
    }
    return json_to_payload(*prototype, text_or_file(inv.str("payload-json"), "--payload-json"), "--payload-json");
}

int run_send(Invocation& inv) {
    inv.expect_operands(0, "");
    const std::string type = inv.str("type");
    if (type.empty()) throw UsageError("--type is required (the envelope's message_type, e.g. Proposal)");
    const std::string session = inv.str("session");
    std::string mode = inv.str("mode");
    const bool ambient = type == "Signal" || (type == "Progress" && session.empty());
    if (!ambient && session.empty()) throw UsageError("--session is required for " + type);
    Connection conn(inv.global);
    if (mode.empty() && !ambient) {
        // The session knows its mode.
        macp::v1::GetSessionRequest req;
        req.set_session_id(session);
        macp::v1::GetSessionResponse resp;
        auto ctx = conn.context(inv.deadline(kUnaryDefault));
        auto st = conn.runtime().GetSession(ctx.get(), req, &resp);
        if (!st.ok()) return report_status(inv, conn, st);
        mode = resp.metadata().mode();
    }
    auto env = base_envelope(inv, type);
    env.set_session_id(session);
    env.set_mode(mode);
    env.set_payload(build_payload(inv, mode, type));
    return send_envelope(inv, conn, env, false);
}

std::string payload_summary(const macp::v1::Envelope& env) {
    if (env.payload().empty()) return "-";
    if (auto json = payload_as_json(env.mode(), env.message_type(), env.payload())) return *json;
    return "<" + std::to_string(env.payload().size()) + " bytes>";
}

int run_subscribe(Invocation& inv) {
    inv.expect_operands(1, "SESSION_ID");
    const auto count = inv.count();
    const uint64_t after = inv.has("after") ? parse_count(inv.str("after"), "--after") : 0;
    Connection conn(inv.global);
    auto ctx = conn.context(inv.deadline(std::nullopt));
    interrupts::StreamGuard guard(ctx.get());
    auto stream = conn.runtime().StreamSession(ctx.get());
    macp::v1::StreamSessionRequest req;
    req.set_subscribe_session_id(inv.operands[0]);
    req.set_after_sequence(after);
    // No WritesDone: a half-close ends the subscription (STR-SS-11).
    const bool json = inv.global.output == OutputFormat::Json;
    uint64_t received = 0;
    bool stopped = false;
    if (stream->Write(req)) {
        if (!json) {
            std::cout << padded("SEQ", 5) << padded("TIME", 24) << padded("TYPE", 16) << padded("SENDER", 16)
                      << padded("MESSAGE_ID", 36) << "PAYLOAD\n"
                      << std::flush;
        }
        macp::v1::StreamSessionResponse resp;
        while (stream->Read(&resp)) {
            if (resp.has_error()) {  // inline MACP error (FORBIDDEN for a non-participant)
                const auto& e = resp.error();
                ctx->TryCancel();
                stream->Finish();
                return report(inv, exit_code_for_macp(e.code()),
                              "rejected: " + e.code() + (e.message().empty() ? "" : " (" + e.message() + ")"));
            }
            const auto& env = resp.envelope();
            ++received;
            const uint64_t seq = after + received;
            if (json) {
                JsonObject line(to_json(env, false));
                line.num("sequence", seq);
                if (auto decoded = payload_as_json(env.mode(), env.message_type(), env.payload())) {
                    line.raw("decoded_payload", *decoded);
                }
                print_json_line(line.dump(false));
            } else {
                std::cout << padded(std::to_string(seq), 5) << padded(format_time(env.timestamp_unix_ms()), 24)
                          << padded(env.message_type(), 16) << padded(env.sender(), 16) << padded(env.message_id(), 36)
                          << payload_summary(env) << '\n'
                          << std::flush;
            }
            if (count && received >= *count) {
                stopped = true;
                ctx->TryCancel();
                break;
            }
        }
    }
    return stream_outcome(inv, conn, stream->Finish(), received, count, stopped);
}

}  // namespace

void add_message_commands(std::vector<CommandSpec>& out) {
    CommandSpec start;
    start.name = "start";
    start.usage = "--mode MODE --participant NAME... [--ttl DURATION] [options]";
    start.summary = "Start a session (send a SessionStart)";
    start.description =
        "Builds a SessionStartPayload from the options (or from --payload-json, which the\n"
        "options then override) and sends it in a SessionStart envelope. The session id is\n"
        "a new UUID v4 unless --session names one. The standard modes need at least one\n"
        "participant, a TTL (1 ms .. 24 h), a mode version and a configuration version:\n"
        "macpctl fills in the TTL (5m), the mode version (the server's descriptor of MODE,\n"
        "from ListModes) and the configuration version ('default') when not given.\n"
        "\n"
        "The caller becomes the session's initiator; with dev-mode authentication the token\n"
        "is that name. Output: the Ack (session_id, state); with --quiet only the session id.\n"
        "A refused start (INVALID_ENVELOPE, MODE_NOT_SUPPORTED, SESSION_ALREADY_EXISTS,\n"
        "UNKNOWN_POLICY_VERSION, RATE_LIMITED, ...) prints the MACP error code and exits 2;\n"
        "FORBIDDEN and UNAUTHENTICATED exit 5.";
    start.examples =
        "  macpctl start -m macp.mode.decision.v1 -p alice -p bob --ttl 10m --intent 'pick a vendor'\n"
        "  SID=$(macpctl start -m ext.multi_round.v1 -p alice,bob -q)\n"
        "  macpctl start -m macp.mode.task.v1 --payload-json @start.json --policy policy.tasks\n";
    start.options = [](po::options_description& o) {
        value_option(o, "mode,m", "MODE", "Mode of the session (required).");
        list_option(o, "participant,p", "NAME", "A participant; repeatable, or comma-separated.");
        value_option(o, "session,s", "SESSION_ID", "Session id (default: a new UUID v4).");
        value_option(o, "ttl", "DURATION", "Time to live (default 5m).");
        value_option(o, "intent", "TEXT", "What the session is for.");
        value_option(o, "mode-version", "V", "Mode version (default: the server's descriptor version of MODE).");
        value_option(o, "config-version", "V", "Configuration version (default 'default').");
        value_option(o, "policy", "POLICY_ID", "Governance policy to bind (policy_version; default policy.default).");
        value_option(o, "context-id", "ID", "Opaque reference to external context.");
        list_option(o, "extension", "KEY=VALUE", "Opaque extension data (KEY=@FILE reads the bytes); repeatable.");
        list_option(o, "root", "URI", "A root URI; repeatable.");
        value_option(o, "max-suspend", "DURATION",
                     "Longest total suspension before the session expires (default: the server's).");
        value_option(o, "payload-json", "JSON|@FILE",
                     "The whole macp.v1.SessionStartPayload as proto3 JSON; the other options override its fields.");
        flag_option(o, "quiet,q", "Print only the session id (on success).");
        envelope_options(o);
    };
    start.run = run_start;
    out.push_back(std::move(start));

    CommandSpec send;
    send.name = "send";
    send.usage =
        "--session SESSION_ID --type TYPE [--payload-json JSON|@FILE | --payload TEXT|@FILE | --payload-file FILE]";
    send.summary = "Send one envelope (mode message, Commitment, Signal...)";
    send.description =
        "Builds an Envelope (macp_version 1.0, message id a new UUID v4, timestamp now) and\n"
        "calls Send. --mode defaults to the session's own (one GetSession call). Signal is\n"
        "ambient: no session, no mode; Progress may be either.\n"
        "\n"
        "The payload, at most one of:\n"
        "  --payload-json  proto3 JSON of the type's payload message, converted to protobuf:\n"
        "                  e.g. Vote in macp.mode.decision.v1 is macp.modes.decision.v1.VotePayload,\n"
        "                  Commitment is macp.v1.CommitmentPayload (macpctl modes MODE lists them;\n"
        "                  --payload-type names another). Unknown fields are an error; bytes\n"
        "                  fields are base64.\n"
        "  --payload       the bytes as given (or @FILE, @- for stdin): JSON for ext.multi_round.v1\n"
        "                  ({\"value\":\"...\"}) and for extension modes.\n"
        "  --payload-file  the file's bytes (- for stdin), e.g. an already serialized protobuf.\n"
        "\n"
        "Output: the Ack. A refused envelope prints the MACP error code and exits 2\n"
        "(SESSION_NOT_FOUND exits 3, FORBIDDEN/UNAUTHENTICATED 5, INTERNAL_ERROR 8); the Ack is\n"
        "still printed on stdout.";
    send.examples =
        "  macpctl send -s \"$SID\" -t Proposal --payload-json '{\"proposal_id\":\"p1\",\"option\":\"ship\"}'\n"
        "  macpctl send -s \"$SID\" -t Vote --payload-json '{\"proposal_id\":\"p1\",\"vote\":\"APPROVE\"}'\n"
        "  macpctl send -s \"$SID\" -t Contribute --payload '{\"value\":\"42\"}'\n"
        "  macpctl send -s \"$SID\" -t Commitment --payload-json @commit.json\n"
        "  macpctl send -t Signal --payload-json '{\"signal_type\":\"heartbeat\"}'\n";
    send.options = [](po::options_description& o) {
        value_option(o, "session,s", "SESSION_ID", "Target session (not for Signal).");
        value_option(o, "mode,m", "MODE", "Mode (default: the session's).");
        value_option(o, "type,t", "TYPE", "Message type, e.g. Proposal (required).");
        value_option(o, "payload-json", "JSON|@FILE", "Payload as proto3 JSON of its message type.");
        value_option(o, "payload-type", "MESSAGE",
                     "Full protobuf message name for --payload-json (default: from MODE and TYPE).");
        value_option(o, "payload", "TEXT|@FILE", "Payload bytes as given.");
        value_option(o, "payload-file", "FILE", "Payload bytes from FILE (- = stdin).");
        envelope_options(o);
    };
    send.run = run_send;
    out.push_back(std::move(send));

    CommandSpec subscribe;
    subscribe.name = "subscribe";
    subscribe.usage = "SESSION_ID [--after N] [--count N]";
    subscribe.summary = "Print a session's envelopes: history, then live";
    subscribe.description =
        "Subscribes with StreamSession: the server replays the session's accepted envelopes\n"
        "after sequence --after (default 0: from the SessionStart), then follows live, with\n"
        "no gap and no duplicate. SEQ is each envelope's position in the session; resume a\n"
        "broken subscription with --after LAST_SEQ. Payloads of known types are shown decoded.\n"
        "\n"
        "Runs until Ctrl-C, --timeout or --count envelopes (exit 0); ending before --count\n"
        "is exit 6. An unknown session is exit 3; a caller who is neither participant nor\n"
        "initiator gets FORBIDDEN (exit 5). A subscriber too slow for the session's traffic\n"
        "is cut off with RESOURCE_EXHAUSTED (exit 2), naming the sequence to resume after.\n"
        "\n"
        "JSON: one Envelope per line, plus \"sequence\" and, when the payload decodes,\n"
        "\"decoded_payload\".";
    subscribe.examples =
        "  macpctl subscribe \"$SID\"\n"
        "  macpctl subscribe \"$SID\" --after 3 --count 1 --timeout 30s -o json\n";
    subscribe.options = [](po::options_description& o) {
        value_option(o, "after", "N", "Replay only envelopes after sequence N (default 0).");
        value_option(o, "count", "N", "Stop after N envelopes (exit 6 if the stream ends first).");
    };
    subscribe.run = run_subscribe;
    out.push_back(std::move(subscribe));
}

}  // namespace macpctl
