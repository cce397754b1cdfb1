// sessions list|get|watch, cancel, suspend, resume: inspecting and steering sessions.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>

#include "cli.hpp"
#include "connection.hpp"
#include "output.hpp"

namespace macpctl {

namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kUnaryDefault = 10s;

const std::vector<std::string> kStates{"open", "resolved", "expired", "suspended", "cancelled"};

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// "open,suspended" -> {"OPEN", "SUSPENDED"}; UsageError on an unknown state.
std::set<std::string> parse_states(const std::vector<std::string>& values) {
    std::set<std::string> out;
    for (const auto& v : values) {
        size_t start = 0;
        while (start <= v.size()) {
            const auto comma = v.find(',', start);
            const auto item = lower(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            if (!item.empty()) {
                if (std::find(kStates.begin(), kStates.end(), item) == kStates.end()) {
                    throw UsageError("--state: unknown state '" + item +
                                     "' (open, resolved, expired, suspended, cancelled)");
                }
                std::string upper = item;
                for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                out.insert(upper);
            }
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    return out;
}

int run_list(Invocation& inv) {
    inv.expect_operands(0, "");
    const auto states = parse_states(inv.list("state"));
    const std::string mode = inv.str("mode");
    const uint64_t page_size = parse_count(inv.str("page-size", "500"), "--page-size");
    if (page_size == 0 || page_size > 1000) throw UsageError("--page-size must be 1..1000");
    Connection conn(inv.global);
    macp::v1::ListSessionsResponse all;
    macp::v1::ListSessionsRequest req;
    req.set_page_size(static_cast<int32_t>(page_size));
    for (int page = 0;; ++page) {
        if (page == 1'000'000) return report(inv, kServerError, "ListSessions did not end after 1000000 pages");
        macp::v1::ListSessionsResponse resp;
        auto ctx = conn.context(inv.deadline(kUnaryDefault));
        auto st = conn.runtime().ListSessions(ctx.get(), req, &resp);
        if (!st.ok()) return report_status(inv, conn, st);
        for (const auto& s : resp.sessions()) {
            if (!mode.empty() && s.mode() != mode) continue;
            if (!states.empty() && states.count(state_name(s.state())) == 0) continue;
            *all.add_sessions() = s;
        }
        if (resp.next_page_token().empty()) break;
        req.set_page_token(resp.next_page_token());
    }
    if (inv.global.output == OutputFormat::Json) {
        print_json(all);
        return kOk;
    }
    Table t({"SESSION_ID", "MODE", "STATE", "INITIATOR", "PARTICIPANTS", "STARTED", "EXPIRES"});
    for (const auto& s : all.sessions()) {
        t.add({s.session_id(), s.mode(), state_name(s.state()), s.initiator(), join(strings(s.participants()), ","),
               format_time(s.started_at_unix_ms()), format_time(s.expires_at_unix_ms())});
    }
    t.print(std::cout);
    return kOk;
}

int run_get(Invocation& inv) {
    inv.expect_operands(1, "SESSION_ID");
    Connection conn(inv.global);
    macp::v1::GetSessionRequest req;
    req.set_session_id(inv.operands[0]);
    macp::v1::GetSessionResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().GetSession(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    const auto& m = resp.metadata();
    if (inv.global.output == OutputFormat::Json) {
        print_json(m);
        return kOk;
    }
    Fields f;
    f.add("session_id", m.session_id())
        .add("mode", m.mode())
        .add("state", state_name(m.state()))
        .add("mode_version", m.mode_version())
        .add("configuration_version", m.configuration_version())
        .add("policy_version", m.policy_version())
        .add("initiator", m.initiator())
        .add("participants", join(strings(m.participants()), ", "))
        .add("context_id", m.context_id())
        .add("extension_keys", join(strings(m.extension_keys()), ", "))
        .add("started_at", format_time(m.started_at_unix_ms()))
        .add("expires_at", format_time(m.expires_at_unix_ms()));
    for (const auto& a : m.participant_activity()) {
        f.add("activity", a.participant_id() + ": " + std::to_string(a.message_count()) + " message(s), last " +
                              format_time(a.last_message_at_unix_ms()));
    }
    f.print(std::cout);
    return kOk;
}

int run_watch(Invocation& inv) {
    inv.expect_operands(0, "");
    const auto count = inv.count();
    const std::string only = inv.str("session");
    Connection conn(inv.global);
    auto ctx = conn.context(inv.deadline(std::nullopt));
    interrupts::StreamGuard guard(ctx.get());
    auto reader = conn.runtime().WatchSessions(ctx.get(), {});
    const bool json = inv.global.output == OutputFormat::Json;
    if (!json) {
        std::cout << padded("TIME", 24) << padded("EVENT", 9) << padded("SESSION_ID", 36) << padded("STATE", 9)
                  << "MODE" << '\n'
                  << std::flush;
    }
    uint64_t received = 0;
    bool stopped = false;
    macp::v1::WatchSessionsResponse resp;
    while (reader->Read(&resp)) {
        const auto& e = resp.event();
        if (!only.empty() && e.session().session_id() != only) continue;
        if (json) {
            print_json_line(to_json(e, false));
        } else {
            std::cout << padded(format_time(e.observed_at_unix_ms()), 24) << padded(event_name(e.event_type()), 9)
                      << padded(e.session().session_id(), 36) << padded(state_name(e.session().state()), 9)
                      << e.session().mode() << '\n'
                      << std::flush;
        }
        ++received;
        if (count && received >= *count) {
            stopped = true;
            ctx->TryCancel();
            break;
        }
    }
    return stream_outcome(inv, conn, reader->Finish(), received, count, stopped);
}

enum class Control { Cancel, Suspend, Resume };

int run_control(Invocation& inv, Control which) {
    inv.expect_operands(1, "SESSION_ID");
    Connection conn(inv.global);
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    const auto& id = inv.operands[0];
    const auto reason = inv.str("reason");
    grpc::Status st;
    macp::v1::Ack ack;
    if (which == Control::Cancel) {
        macp::v1::CancelSessionRequest req;
        req.set_session_id(id);
        req.set_reason(reason);
        macp::v1::CancelSessionResponse resp;
        st = conn.runtime().CancelSession(ctx.get(), req, &resp);
        ack = resp.ack();
    } else if (which == Control::Suspend) {
        macp::v1::SuspendSessionRequest req;
        req.set_session_id(id);
        req.set_reason(reason);
        macp::v1::SuspendSessionResponse resp;
        st = conn.runtime().SuspendSession(ctx.get(), req, &resp);
        ack = resp.ack();
    } else {
        macp::v1::ResumeSessionRequest req;
        req.set_session_id(id);
        req.set_reason(reason);
        macp::v1::ResumeSessionResponse resp;
        st = conn.runtime().ResumeSession(ctx.get(), req, &resp);
        ack = resp.ack();
    }
    if (!st.ok()) return report_status(inv, conn, st);
    return report_ack(inv, ack);
}

void reason_option(po::options_description& o) {
    value_option(o, "reason", "TEXT", "Why; recorded in the session's history.");
}

}  // namespace

void add_session_commands(std::vector<CommandSpec>& out) {
    CommandSpec list;
    list.name = "sessions list";
    list.usage = "[--mode MODE] [--state STATE[,STATE...]] [--page-size N]";
    list.summary = "List the sessions the server holds in memory";
    list.description =
        "Calls ListSessions page by page (--page-size per call, default 500) until the last\n"
        "page, then filters by --mode and --state on the client. Finished sessions stay\n"
        "listed until the server's retention (MACP_SESSION_RETENTION_SECS) evicts them from\n"
        "memory; sessions get still finds them in storage.\n"
        "\n"
        "JSON: a ListSessionsResponse with every page's sessions (SessionMetadata).";
    list.examples =
        "  macpctl sessions list\n"
        "  macpctl sessions list --state open,suspended --mode macp.mode.task.v1\n"
        "  macpctl sessions list -o json | jq -r '.sessions[].session_id'\n";
    list.options = [](po::options_description& o) {
        value_option(o, "mode", "MODE", "Only sessions of this mode.");
        list_option(o, "state", "STATE",
                    "Only sessions in these states: open, resolved, expired, suspended, cancelled (comma-separated "
                    "or repeated).");
        value_option(o, "page-size", "N", "Sessions per ListSessions call, 1..1000 (default 500).");
    };
    list.run = run_list;
    out.push_back(std::move(list));

    CommandSpec get;
    get.name = "sessions get";
    get.usage = "SESSION_ID";
    get.summary = "Show one session";
    get.description =
        "Calls GetSession: mode, state, versions, policy, initiator, participants and their\n"
        "activity, context, extension keys, start and expiry. A session the server does not\n"
        "know is exit 3; one the caller may not read (neither a participant nor the\n"
        "initiator) is exit 5.\n"
        "\n"
        "JSON: the SessionMetadata.";
    get.examples =
        "  macpctl sessions get 7f1c0d2e-9a4b-4c1d-8e2f-0123456789ab\n"
        "  macpctl sessions get \"$SID\" -o json | jq -r .state\n";
    get.run = run_get;
    out.push_back(std::move(get));

    CommandSpec watch;
    watch.name = "sessions watch";
    watch.usage = "[--session SESSION_ID] [--count N]";
    watch.summary = "Follow session lifecycle events";
    watch.description =
        "Calls WatchSessions and prints one line per event: created, resolved, expired,\n"
        "suspended, resumed, cancelled (the server first reports the sessions it holds as\n"
        "created). Runs until Ctrl-C, --timeout, or --count events (exit 0); ending before\n"
        "--count events is exit 6.\n"
        "\n"
        "JSON: one SessionLifecycleEvent per line.";
    watch.examples =
        "  macpctl sessions watch\n"
        "  macpctl sessions watch --session \"$SID\" --count 2 --timeout 5m -o json\n";
    watch.options = [](po::options_description& o) {
        value_option(o, "session", "SESSION_ID", "Only events of this session.");
        value_option(o, "count", "N", "Stop after N events (exit 6 if the stream ends first).");
    };
    watch.run = run_watch;
    out.push_back(std::move(watch));

    CommandSpec cancel;
    cancel.name = "cancel";
    cancel.usage = "SESSION_ID [--reason TEXT]";
    cancel.summary = "Cancel a session (terminal: CANCELLED)";
    cancel.description =
        "Calls CancelSession as the caller. Only the session's initiator, or whoever its\n"
        "policy lets commit, may cancel: anyone else gets exit 5. Cancelling a session that\n"
        "already ended answers ok with its final state; an unknown session is exit 3.\n"
        "\n"
        "Output: the Ack (JSON: the Ack message).";
    cancel.examples = "  macpctl cancel \"$SID\" --reason 'operator: stuck'\n";
    cancel.options = reason_option;
    cancel.run = [](Invocation& inv) { return run_control(inv, Control::Cancel); };
    out.push_back(std::move(cancel));

    CommandSpec suspend;
    suspend.name = "suspend";
    suspend.usage = "SESSION_ID [--reason TEXT]";
    suspend.summary = "Suspend an open session (its TTL stops)";
    suspend.description =
        "Calls SuspendSession. While suspended the session refuses messages; the remaining TTL\n"
        "is held (up to the session's max_suspend_ms). A session that is not OPEN is refused\n"
        "with SESSION_NOT_OPEN (exit 2); who may suspend, and exit 3 and 5, as for cancel.";
    suspend.examples = "  macpctl suspend \"$SID\" --reason maintenance\n";
    suspend.options = reason_option;
    suspend.run = [](Invocation& inv) { return run_control(inv, Control::Suspend); };
    out.push_back(std::move(suspend));

    CommandSpec resume;
    resume.name = "resume";
    resume.usage = "SESSION_ID [--reason TEXT]";
    resume.summary = "Resume a suspended session";
    resume.description =
        "Calls ResumeSession; the session is OPEN again with the TTL it had left. A session\n"
        "that is not SUSPENDED is refused with SESSION_NOT_OPEN (exit 2), one whose suspension\n"
        "outlived max_suspend_ms expires instead (exit 2); exit 3 and 5 as for cancel.";
    resume.examples = "  macpctl resume \"$SID\"\n";
    resume.options = reason_option;
    resume.run = [](Invocation& inv) { return run_control(inv, Control::Resume); };
    out.push_back(std::move(resume));
}

}  // namespace macpctl
