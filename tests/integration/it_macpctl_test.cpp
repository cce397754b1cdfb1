// macpctl, the client CLI (issue #14), run as a program against the real server: health, info,
// modes, a session from start to commitment, sessions list/get/watch, subscribe, cancel, suspend,
// resume, the policy registry, the environment defaults, static tokens, TLS and mTLS, and the
// documented exit statuses (tools/macpctl/src/cli.hpp, docs/macpctl.md). Exit statuses no real
// server produces on demand (NOT_SERVING, INTERNAL, a deadline) come from a small in-process fake.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "harness.hpp"
#include "test_pki.hpp"

using namespace macp::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

extern char** environ;  // NOLINT

namespace {

constexpr const char* kDecision = "macp.mode.decision.v1";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Result {
    int rc = -1;
    std::string out;
    std::string err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
    return os << "rc=" << r.rc << "\n--- stdout ---\n" << r.out << "--- stderr ---\n" << r.err;
}

// One macpctl process: the environment is ours minus every MACP_* (a developer's settings must not
// leak in) plus `env`; stdout and stderr go to files of their own.
class Ctl {
public:
    Ctl(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
        out_ = dir_.path() / "out";
        err_ = dir_.path() / "err";
        std::vector<std::string> argv{MACPCTL_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<std::string> envs;
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            std::string kv(*e);
            if (kv.rfind("MACP_", 0) != 0) envs.push_back(kv);
        }
        for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
        std::vector<char*> a;
        for (auto& s : argv) a.push_back(s.data());
        a.push_back(nullptr);
        std::vector<char*> e;
        for (auto& s : envs) e.push_back(s.data());
        e.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            int in = ::open("/dev/null", O_RDONLY);
            int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int r = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(in, 0);
            ::dup2(o, 1);
            ::dup2(r, 2);
            ::execve(a[0], a.data(), e.data());
            ::_exit(127);
        }
    }
    ~Ctl() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Ctl(const Ctl&) = delete;
    Ctl& operator=(const Ctl&) = delete;

    Result wait(std::chrono::milliseconds timeout = 30s) {
        Result r;
        const auto end = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        while (pid_ > 0) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                pid_ = -1;
                break;
            }
            if (std::chrono::steady_clock::now() > end) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
                pid_ = -1;
                r.rc = -1000;  // hung
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        r.out = slurp(out_);
        r.err = slurp(err_);
        return r;
    }
    void signal(int sig) const { ::kill(pid_, sig); }
    [[nodiscard]] std::string out() const { return slurp(out_); }
    // Waits until stdout holds at least `n` lines.
    bool wait_lines(size_t n, std::chrono::milliseconds timeout = 20s) const {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            const auto text = out();
            if (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) >= n) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

private:
    TempDir dir_;
    fs::path out_;
    fs::path err_;
    pid_t pid_ = -1;
};

Result ctl(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
           std::chrono::milliseconds timeout = 30s) {
    Ctl c(args, env);
    return c.wait(timeout);
}

rapidjson::Document json(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str());
    INFO("not JSON: " << text);
    REQUIRE_FALSE(d.HasParseError());
    return d;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (!l.empty()) out.push_back(l);
    }
    return out;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// A dev-mode server (MACP_ALLOW_INSECURE=1: plaintext, the token is the sender) and the
// environment that points macpctl at it as `alice`.
struct DevServer {
    TempDir tmp;
    ServerProcess server{{{"MACP_ALLOW_INSECURE", "1"}}, tmp.path() / "data"};
    DevServer() { REQUIRE(server.start()); }
    [[nodiscard]] std::map<std::string, std::string> env(const std::string& token = "alice") const {
        return {{"MACP_ADDR", server.address()}, {"MACP_PLAINTEXT", "1"}, {"MACP_TOKEN", token}};
    }
};

std::string start_session(const DevServer& s, const std::string& mode, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"start", "-m", mode, "-p", "alice", "-p", "bob", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ctl(args, s.env());
    INFO(r);
    REQUIRE(r.rc == 0);
    const auto sid = trimmed(r.out);
    REQUIRE(sid.size() == 36);
    return sid;
}

// --- an in-process fake server for the statuses a real one does not give on demand --------------

class FakeHealth final : public grpc::health::v1::Health::Service {
    grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                       grpc::health::v1::HealthCheckResponse* resp) override {
        resp->set_status(grpc::health::v1::HealthCheckResponse::NOT_SERVING);
        return grpc::Status::OK;
    }
};

class FakeRuntime final : public macp::v1::MACPRuntimeService::Service {
    grpc::Status Initialize(grpc::ServerContext* ctx, const macp::v1::InitializeRequest*,
                            macp::v1::InitializeResponse*) override {
        for (int i = 0; i < 500 && !ctx->IsCancelled(); ++i) std::this_thread::sleep_for(10ms);  // outlives --timeout
        return grpc::Status::OK;
    }
    grpc::Status ListModes(grpc::ServerContext*, const macp::v1::ListModesRequest*,
                           macp::v1::ListModesResponse*) override {
        return {grpc::StatusCode::INTERNAL, "boom"};
    }
    grpc::Status GetSession(grpc::ServerContext*, const macp::v1::GetSessionRequest*,
                            macp::v1::GetSessionResponse*) override {
        return {grpc::StatusCode::UNAVAILABLE, "draining"};
    }
    grpc::Status ListSessions(grpc::ServerContext*, const macp::v1::ListSessionsRequest*,
                              macp::v1::ListSessionsResponse*) override {
        return {grpc::StatusCode::UNIMPLEMENTED, "not here"};
    }
    grpc::Status Send(grpc::ServerContext*, const macp::v1::SendRequest* req, macp::v1::SendResponse* resp) override {
        // A storage failure as the real server reports it: ok=false, INTERNAL_ERROR.
        auto* ack = resp->mutable_ack();
        ack->set_message_id(req->envelope().message_id());
        ack->mutable_error()->set_code("INTERNAL_ERROR");
        ack->mutable_error()->set_message("StorageFailed");
        return grpc::Status::OK;
    }
};

}  // namespace

TEST_CASE("macpctl health, info and modes", "[integration][macpctl]") {
    DevServer s;
    auto r = ctl({"health"}, s.env());
    INFO(r);
    CHECK(r.rc == 0);
    CHECK(r.out.find("SERVING") != std::string::npos);

    r = ctl({"health", "-o", "json", "--service", "macp.v1.MACPRuntimeService"}, s.env());
    REQUIRE(r.rc == 0);
    auto h = json(r.out);
    CHECK(std::string(h["status"].GetString()) == "SERVING");
    CHECK(std::string(h["server"].GetString()) == s.server.address());

    r = ctl({"health", "--service", "no.such.Service"}, s.env());
    CHECK(r.rc == 3);

    r = ctl({"info", "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto info = json(r.out);
    CHECK(std::string(info["runtime_info"]["name"].GetString()) == "macp-runtime");
    CHECK(std::string(info["selected_protocol_version"].GetString()) == "1.0");
    bool has_decision = false;
    for (const auto& m : info["supported_modes"].GetArray())
        has_decision = has_decision || m.GetString() == std::string(kDecision);
    CHECK(has_decision);
    r = ctl({"info"}, s.env());
    CHECK(r.rc == 0);
    CHECK(r.out.find("capability.sessions") != std::string::npos);

    r = ctl({"modes", "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto modes = json(r.out);
    REQUIRE(modes["modes"].IsArray());
    CHECK(modes["modes"].Size() == 5);
    REQUIRE(modes["extension_modes"].Size() >= 1);
    CHECK(std::string(modes["extension_modes"][0]["mode"].GetString()) == kMultiRound);

    r = ctl({"modes", kDecision, "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto decision = json(r.out);
    CHECK(std::string(decision["kind"].GetString()) == "standard");
    CHECK(std::string(decision["payload_types"]["Vote"].GetString()) == "macp.modes.decision.v1.VotePayload");
    CHECK(std::string(decision["payload_types"]["Commitment"].GetString()) == "macp.v1.CommitmentPayload");

    r = ctl({"modes"}, s.env());
    CHECK(r.rc == 0);
    CHECK(r.out.find("MODE") == 0);
    CHECK(r.out.find(kMultiRound) != std::string::npos);
    CHECK(ctl({"modes", "no.such.mode"}, s.env()).rc == 3);
}

TEST_CASE("macpctl runs a decision session from start to commitment", "[integration][macpctl]") {
    DevServer s;
    const auto sid = start_session(s, kDecision, {"--intent", "pick a vendor", "--ttl", "10m"});

    auto r = ctl({"send", "-s", sid, "-t", "Proposal", "--payload-json", R"({"proposal_id":"p1","option":"ship"})"},
                 s.env());
    INFO(r);
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("OPEN") != std::string::npos);

    r = ctl({"send", "-s", sid, "-t", "Vote", "--payload-json", R"({"proposal_id":"p1","vote":"APPROVE"})", "-o",
             "json", "--message-id", "vote-1"},
            s.env("bob"));
    REQUIRE(r.rc == 0);
    auto ack = json(r.out);
    CHECK(ack["ok"].GetBool());
    CHECK(std::string(ack["message_id"].GetString()) == "vote-1");
    CHECK(std::string(ack["session_state"].GetString()) == "SESSION_STATE_OPEN");

    // The same message id again: a duplicate, not a second vote.
    r = ctl({"send", "-s", sid, "-t", "Vote", "--payload-json", R"({"proposal_id":"p1","vote":"APPROVE"})", "-o",
             "json", "--message-id", "vote-1"},
            s.env("bob"));
    REQUIRE(r.rc == 0);
    CHECK(json(r.out)["duplicate"].GetBool());

    // The commitment from a file (@FILE), the versions macpctl start bound.
    TempDir dir;
    const auto commit = dir.path() / "commit.json";
    std::ofstream(commit) << R"({"commitment_id":"c1","action":"vendor.selected","authority_scope":"session",
        "reason":"approved","mode_version":"1.0.0","configuration_version":"default","outcome_positive":true})";
    r = ctl({"send", "-s", sid, "-t", "Commitment", "--payload-json", "@" + commit.string()}, s.env());
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("RESOLVED") != std::string::npos);

    // What the server holds, through an independent client.
    Client client(s.server.address(), "alice");
    macp::v1::SessionMetadata md;
    REQUIRE(client.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_RESOLVED);
    CHECK(md.initiator() == "alice");
    CHECK(md.configuration_version() == "default");
    CHECK(md.mode_version() == "1.0.0");
    CHECK(md.participants_size() == 2);

    r = ctl({"sessions", "get", sid, "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto got = json(r.out);
    CHECK(std::string(got["session_id"].GetString()) == sid);
    CHECK(std::string(got["state"].GetString()) == "SESSION_STATE_RESOLVED");
    CHECK(std::string(got["mode"].GetString()) == kDecision);

    r = ctl({"sessions", "list", "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto list = json(r.out);
    REQUIRE(list["sessions"].Size() == 1);
    CHECK(std::string(list["sessions"][0]["session_id"].GetString()) == sid);
    r = ctl({"sessions", "list", "-o", "json", "--state", "open"}, s.env());
    REQUIRE(r.rc == 0);
    CHECK(json(r.out)["sessions"].Size() == 0);
    r = ctl({"sessions", "list", "--state", "resolved", "--mode", kDecision}, s.env());
    CHECK(r.rc == 0);
    CHECK(r.out.find(sid) != std::string::npos);

    // The history: every envelope with its sequence and decoded payload.
    r = ctl({"subscribe", sid, "--count", "4", "-o", "json", "--timeout", "20s"}, s.env());
    INFO(r);
    REQUIRE(r.rc == 0);
    auto envs = lines(r.out);
    REQUIRE(envs.size() == 4);
    const char* types[] = {"SessionStart", "Proposal", "Vote", "Commitment"};
    for (size_t i = 0; i < envs.size(); ++i) {
        auto e = json(envs[i]);
        CHECK(std::string(e["message_type"].GetString()) == types[i]);
        CHECK(e["sequence"].GetUint64() == i + 1);
        CHECK(e.HasMember("decoded_payload"));
    }
    CHECK(std::string(json(envs[0])["decoded_payload"]["intent"].GetString()) == "pick a vendor");
    CHECK(std::string(json(envs[2])["decoded_payload"]["vote"].GetString()) == "APPROVE");
    CHECK(std::string(json(envs[2])["sender"].GetString()) == "bob");

    r = ctl({"subscribe", sid, "--after", "3", "--count", "1", "--timeout", "20s"}, s.env());
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("Commitment") != std::string::npos);
    CHECK(r.out.find("Proposal") == std::string::npos);
}

TEST_CASE("macpctl send: raw payloads, ambient signals and payload choice", "[integration][macpctl]") {
    DevServer s;
    const auto sid = start_session(s, kMultiRound);
    // multi_round takes JSON bytes as they are, and the proto built from --payload-json.
    auto r = ctl({"send", "-s", sid, "-t", "Contribute", "--payload", R"({"value":"42"})"}, s.env());
    INFO(r);
    CHECK(r.rc == 0);
    r = ctl({"send", "-s", sid, "-t", "Contribute", "--payload-json", R"({"value":"43"})"}, s.env("bob"));
    CHECK(r.rc == 0);
    // The bytes of a file, unchanged.
    TempDir dir;
    std::ofstream(dir.path() / "c.json") << R"({"value":"44"})";
    r = ctl({"send", "-s", sid, "-t", "Contribute", "--payload-file", (dir.path() / "c.json").string()}, s.env());
    CHECK(r.rc == 0);
    r = ctl({"subscribe", sid, "--count", "4", "-o", "json", "--timeout", "20s"}, s.env());
    REQUIRE(r.rc == 0);
    auto envs = lines(r.out);
    REQUIRE(envs.size() == 4);
    CHECK(std::string(json(envs[1])["decoded_payload"]["value"].GetString()) == "42");
    CHECK(std::string(json(envs[2])["decoded_payload"]["value"].GetString()) == "43");
    CHECK(std::string(json(envs[3])["decoded_payload"]["value"].GetString()) == "44");

    // Signal: ambient, no session and no mode.
    r = ctl({"send", "-t", "Signal", "--payload-json", R"({"signal_type":"heartbeat","confidence":0.5})"}, s.env());
    CHECK(r.rc == 0);
    // An invalid payload is the server's to refuse: exit 2 with the MACP code.
    r = ctl({"send", "-t", "Signal", "--payload-json", R"({"confidence":0.5})"}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("INVALID_ENVELOPE") != std::string::npos);
}

TEST_CASE("macpctl subscribe and sessions watch follow live traffic", "[integration][macpctl]") {
    DevServer s;
    const auto sid = start_session(s, kMultiRound);

    Ctl sub({"subscribe", sid, "--count", "3", "-o", "json", "--timeout", "30s"}, s.env());
    REQUIRE(sub.wait_lines(1));  // the SessionStart from history: the subscription is live now
    REQUIRE(ctl({"send", "-s", sid, "-t", "Contribute", "--payload", R"({"value":"a"})"}, s.env()).rc == 0);
    REQUIRE(ctl({"send", "-s", sid, "-t", "Contribute", "--payload", R"({"value":"b"})"}, s.env("bob")).rc == 0);
    auto r = sub.wait();
    INFO(r);
    REQUIRE(r.rc == 0);
    auto envs = lines(r.out);
    REQUIRE(envs.size() == 3);
    CHECK(json(envs[2])["sequence"].GetUint64() == 3);
    CHECK(std::string(json(envs[2])["sender"].GetString()) == "bob");

    // sessions watch: the created session (live or in the initial snapshot), then its cancel.
    const auto sid2 = new_session_id();
    Ctl watch({"sessions", "watch", "--session", sid2, "--count", "2", "-o", "json", "--timeout", "30s"}, s.env());
    std::this_thread::sleep_for(300ms);
    REQUIRE(ctl({"start", "-m", kMultiRound, "-p", "alice", "--session", sid2}, s.env()).rc == 0);
    REQUIRE(watch.wait_lines(1));
    REQUIRE(ctl({"cancel", sid2, "--reason", "test"}, s.env()).rc == 0);
    r = watch.wait();
    INFO(r);
    REQUIRE(r.rc == 0);
    auto events = lines(r.out);
    REQUIRE(events.size() == 2);
    CHECK(std::string(json(events[0])["session"]["session_id"].GetString()) == sid2);
    CHECK(std::string(json(events[1])["event_type"].GetString()) == "EVENT_TYPE_CANCELLED");
}

TEST_CASE("macpctl streams end on Ctrl-C, --timeout or --count", "[integration][macpctl]") {
    DevServer s;
    const auto sid = start_session(s, kMultiRound);

    // Without --count, the end of --timeout is a normal end; with an unmet --count it is exit 6.
    auto r = ctl({"subscribe", sid, "--timeout", "500ms"}, s.env());
    INFO(r);
    CHECK(r.rc == 0);
    CHECK(r.out.find("SessionStart") != std::string::npos);
    r = ctl({"subscribe", sid, "--count", "5", "--timeout", "500ms"}, s.env());
    CHECK(r.rc == 6);
    CHECK(r.err.find("timed out after 1 of 5") != std::string::npos);
    r = ctl({"sessions", "watch", "--timeout", "500ms"}, s.env());
    CHECK(r.rc == 0);

    // SIGINT ends a stream cleanly (exit 0), or with 6 when --count was not reached.
    {
        Ctl sub({"subscribe", sid}, s.env());
        REQUIRE(sub.wait_lines(2));  // header and the SessionStart
        sub.signal(SIGINT);
        r = sub.wait(10s);
        INFO(r);
        CHECK(r.rc == 0);
    }
    {
        Ctl sub({"subscribe", sid, "--count", "9"}, s.env());
        REQUIRE(sub.wait_lines(2));
        sub.signal(SIGTERM);
        r = sub.wait(10s);
        INFO(r);
        CHECK(r.rc == 6);
        CHECK(r.err.find("interrupted after 1 of 9") != std::string::npos);
    }
    // A subscription to a session the server does not know.
    r = ctl({"subscribe", new_session_id(), "--timeout", "10s"}, s.env());
    CHECK(r.rc == 3);
    // A caller who is neither participant nor initiator: FORBIDDEN inline.
    r = ctl({"subscribe", sid, "--timeout", "10s"}, s.env("mallory"));
    CHECK(r.rc == 5);
    CHECK(r.err.find("FORBIDDEN") != std::string::npos);
}

TEST_CASE("macpctl cancel, suspend, resume and their exit statuses", "[integration][macpctl]") {
    DevServer s;
    const auto sid = start_session(s, kMultiRound);

    auto r = ctl({"suspend", sid, "--reason", "maintenance", "-o", "json"}, s.env());
    INFO(r);
    REQUIRE(r.rc == 0);
    CHECK(std::string(json(r.out)["session_state"].GetString()) == "SESSION_STATE_SUSPENDED");
    r = ctl({"suspend", sid}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("SESSION_NOT_OPEN") != std::string::npos);
    CHECK(r.out.find("SESSION_NOT_OPEN") != std::string::npos);  // the refused Ack on stdout
    r = ctl({"resume", sid}, s.env());
    CHECK(r.rc == 0);
    CHECK(r.out.find("OPEN") != std::string::npos);

    // Only the initiator (or whom the policy lets commit) may cancel: bob is a participant only.
    r = ctl({"cancel", sid}, s.env("bob"));
    CHECK(r.rc == 5);
    CHECK(r.err.find("PERMISSION_DENIED") != std::string::npos);
    r = ctl({"cancel", sid, "--reason", "done"}, s.env());
    CHECK(r.rc == 0);
    CHECK(r.out.find("CANCELLED") != std::string::npos);
    macp::v1::SessionMetadata md;
    REQUIRE(Client(s.server.address(), "alice").get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_CANCELLED);

    // Messages to an ended session are refused with the MACP code; the Ack is still printed.
    r = ctl({"send", "-s", sid, "-t", "Contribute", "--payload", R"({"value":"x"})", "-o", "json"}, s.env());
    CHECK(r.rc == 2);
    CHECK(std::string(json(r.out)["error"]["code"].GetString()) == "SESSION_NOT_OPEN");

    // Not found: 3, whichever way the server says it.
    const auto unknown = new_session_id();
    CHECK(ctl({"sessions", "get", unknown}, s.env()).rc == 3);
    CHECK(ctl({"cancel", unknown}, s.env()).rc == 3);
    CHECK(ctl({"suspend", unknown}, s.env()).rc == 3);
    r = ctl({"send", "-s", unknown, "-m", kMultiRound, "-t", "Contribute", "--payload", "{}", "-o", "json"}, s.env());
    CHECK(r.rc == 3);
    CHECK(std::string(json(r.out)["error"]["code"].GetString()) == "SESSION_NOT_FOUND");
    // send without --mode asks the session first: NOT_FOUND.
    CHECK(ctl({"send", "-s", unknown, "-t", "Contribute", "--payload", "{}"}, s.env()).rc == 3);
    // Reading someone else's session: 5.
    CHECK(ctl({"sessions", "get", sid}, s.env("mallory")).rc == 5);
}

TEST_CASE("macpctl start: refusals print the MACP code and exit 2", "[integration][macpctl]") {
    DevServer s;
    const auto sid = start_session(s, kDecision);
    auto r = ctl({"start", "-m", kDecision, "-p", "alice", "--session", sid}, s.env());
    INFO(r);
    CHECK(r.rc == 2);
    CHECK(r.err.find("SESSION_ALREADY_EXISTS") != std::string::npos);
    r = ctl({"start", "-m", "no.such.mode", "-p", "alice"}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("MODE_NOT_SUPPORTED") != std::string::npos);
    r = ctl({"start", "-m", kDecision, "-p", "alice", "--policy", "policy.nope"}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("UNKNOWN_POLICY_VERSION") != std::string::npos);
    r = ctl({"start", "-m", kDecision, "-p", "alice", "--mode-version", "9.9.9"}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("INVALID_ENVELOPE") != std::string::npos);
    r = ctl({"start", "-m", kDecision, "--ttl", "48h", "-p", "alice"}, s.env());
    CHECK(r.rc == 2);
    // The payload from JSON, the flags on top.
    r = ctl({"start", "-m", kDecision, "-o", "json", "--payload-json",
             R"({"intent":"from json","participants":["alice","carol"],"ttl_ms":"60000","context_id":"ctx-9"})",
             "--extension", "com.example/flag=on"},
            s.env());
    REQUIRE(r.rc == 0);
    const std::string sid2 = json(r.out)["session_id"].GetString();
    macp::v1::SessionMetadata md;
    REQUIRE(Client(s.server.address(), "alice").get_session(sid2, &md).ok());
    CHECK(md.context_id() == "ctx-9");
    REQUIRE(md.participants_size() == 2);
    CHECK(md.participants(1) == "carol");
    REQUIRE(md.extension_keys_size() == 1);
    CHECK(md.extension_keys(0) == "com.example/flag");
    CHECK(md.expires_at_unix_ms() - md.started_at_unix_ms() == 60'000);
}

TEST_CASE("macpctl policies register, list, get and unregister", "[integration][macpctl]") {
    DevServer s;
    auto r = ctl({"policies", "register", "policy.majority", "-m", kDecision, "--rules",
                  R"({"voting":{"algorithm":"majority"}})", "--description", "simple majority"},
                 s.env());
    INFO(r);
    REQUIRE(r.rc == 0);
    r = ctl({"policies", "register", "policy.majority", "-m", kDecision}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("already registered") != std::string::npos);
    r = ctl({"policies", "register", "policy.bad", "-m", kDecision, "--rules", "[1]"}, s.env());
    CHECK(r.rc == 2);
    CHECK(r.err.find("INVALID_POLICY_DEFINITION") != std::string::npos);

    TempDir dir;
    const auto file = dir.path() / "p.json";
    std::ofstream(file) << R"({"policy_id":"policy.any","mode":"*","description":"from a file",
        "rules":{"commitment":{"authority":"initiator_only"}},"schema_version":2})";
    r = ctl({"policies", "register", "--file", file.string(), "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    CHECK(json(r.out)["ok"].GetBool());

    r = ctl({"policies", "list", "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto list = json(r.out);
    std::vector<std::string> ids;
    for (const auto& d : list["descriptors"].GetArray()) ids.emplace_back(d["policy_id"].GetString());
    CHECK(ids == std::vector<std::string>{"policy.any", "policy.default", "policy.majority"});
    r = ctl({"policies", "list", "--mode", "macp.mode.task.v1", "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    CHECK(json(r.out)["descriptors"].Size() == 2);  // the two '*' policies

    r = ctl({"policies", "get", "policy.any", "-o", "json"}, s.env());
    REQUIRE(r.rc == 0);
    auto got = json(r.out);
    CHECK(got["schema_version"].GetUint() == 2);
    CHECK(std::string(got["description"].GetString()) == "from a file");
    rapidjson::Document rules;
    rules.Parse(got["rules"].GetString());
    CHECK(std::string(rules["commitment"]["authority"].GetString()) == "initiator_only");
    CHECK(ctl({"policies", "get", "policy.none"}, s.env()).rc == 3);

    // A session bound to the registered policy.
    CHECK(ctl({"start", "-m", kDecision, "-p", "alice", "--policy", "policy.majority"}, s.env()).rc == 0);

    r = ctl({"policies", "unregister", "policy.majority"}, s.env());
    CHECK(r.rc == 0);
    CHECK(ctl({"policies", "unregister", "policy.majority"}, s.env()).rc == 3);
    r = ctl({"policies", "unregister", "policy.default"}, s.env());
    CHECK(r.rc == 2);
    CHECK(ctl({"policies", "get", "policy.majority"}, s.env()).rc == 3);
}

TEST_CASE("macpctl usage errors exit 1 without calling the server", "[integration][macpctl]") {
    // Nothing listens here: a usage error must be found before any call (else this would be 4).
    const std::map<std::string, std::string> env{{"MACP_ADDR", "127.0.0.1:" + std::to_string(free_port())},
                                                 {"MACP_PLAINTEXT", "1"}};
    const std::vector<std::vector<std::string>> cases{
        {},
        {"frobnicate"},
        {"sessions"},
        {"sessions", "frob"},
        {"health", "--no-such-flag"},
        {"sessions", "get"},
        {"sessions", "get", "a", "b"},
        {"cancel"},
        {"health", "-o", "yaml"},
        {"health", "--timeout", "soon"},
        {"health", "--timeout", "5parsecs"},
        {"health", "--plaintext=maybe"},
        {"health", "--header", "no-colon"},
        {"start", "-p", "alice"},
        {"start", "-m", kDecision, "--ttl", "x"},
        {"start", "-m", kDecision, "--extension", "novalue"},
        {"send", "-s", "x", "-m", kDecision},
        {"send", "-t", "Proposal", "-m", kDecision},
        {"send", "-s", "x", "-m", kDecision, "-t", "Vote", "--payload-json", R"({"no_such_field":1})"},
        {"send", "-s", "x", "-m", kDecision, "-t", "Vote", "--payload-json", "not json"},
        {"send", "-s", "x", "-m", "ext.custom.v1", "-t", "Foo", "--payload-json", "{}"},
        {"send", "-s", "x", "-m", kDecision, "-t", "Vote", "--payload", "a", "--payload-file", "/dev/null"},
        {"send", "-s", "x", "-m", kDecision, "-t", "Vote", "--payload-type", "no.Such", "--payload-json", "{}"},
        {"send", "-s", "x", "-m", kDecision, "-t", "Vote", "--payload-file", "/no/such/file"},
        {"subscribe", "x", "--count", "0"},
        {"subscribe", "x", "--count", "-1"},
        {"sessions", "list", "--page-size", "0"},
        {"policies", "register", "-m", kDecision},
        {"policies", "register", "p"},
        {"policies", "register", "--file", "/no/such/file"},
        {"health", "--token", "a", "--token-file", "/dev/null"},
        {"health", "--token-file", "/no/such/file"},
        {"health", "--plaintext=0", "--cert", "/dev/null"},
        {"health", "--plaintext=0", "--cacert", "/no/such/ca.pem"},
        {"health", "--addr", "http://127.0.0.1:1", "--plaintext=0", "--cacert", "/dev/null"},
    };
    for (const auto& args : cases) {
        auto r = ctl(args, env);
        std::string line;
        for (const auto& a : args) line += a + " ";
        INFO("macpctl " << line << "\n" << r);
        CHECK(r.rc == 1);
        CHECK(r.err.find("macpctl: ") == 0);
        CHECK(r.out.empty());
    }
    // Help is not an error.
    CHECK(ctl({"--help"}, env).rc == 0);
    CHECK(ctl({"--version"}, env).out == "macpctl " MACPCTL_VERSION "\n");
}

TEST_CASE("macpctl: an unreachable server is exit 4", "[integration][macpctl]") {
    const std::string addr = "127.0.0.1:" + std::to_string(free_port());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"health"}, {"info"}, {"sessions", "list"}, {"subscribe", new_session_id()}, {"sessions", "watch"}}) {
        auto r = ctl(args, {{"MACP_ADDR", addr}, {"MACP_PLAINTEXT", "1"}});
        INFO(args.front() << "\n" << r);
        CHECK(r.rc == 4);
        CHECK(r.err.find("UNAVAILABLE") != std::string::npos);
    }
    // TLS towards a plaintext server: the handshake fails, and the hint says why.
    DevServer s;
    auto r = ctl({"health", "--addr", s.server.address()}, {});
    INFO(r);
    CHECK(r.rc == 4);
    CHECK(r.err.find("--plaintext") != std::string::npos);
    CHECK(r.err.find("E1") == std::string::npos);  // no gRPC log lines
    // health --wait: polls until the server is up.
    ServerProcess later({{"MACP_ALLOW_INSECURE", "1"}}, s.tmp.path() / "data2");
    Ctl wait({"health", "--wait", "--timeout", "30s"}, {{"MACP_ADDR", later.address()}, {"MACP_PLAINTEXT", "1"}});
    std::this_thread::sleep_for(500ms);
    REQUIRE(later.start());
    r = wait.wait(40s);
    CHECK(r.rc == 0);
    r = ctl({"health", "--wait", "--timeout", "1s"}, {{"MACP_ADDR", addr}, {"MACP_PLAINTEXT", "1"}});
    CHECK(r.rc == 6);
}

TEST_CASE("macpctl: statuses from a server in trouble (fake server)", "[integration][macpctl]") {
    FakeHealth health;
    FakeRuntime runtime;
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&health);
    builder.RegisterService(&runtime);
    auto server = builder.BuildAndStart();
    REQUIRE(server);
    const std::map<std::string, std::string> env{{"MACP_ADDR", "127.0.0.1:" + std::to_string(port)},
                                                 {"MACP_PLAINTEXT", "1"}};
    auto r = ctl({"health"}, env);
    INFO(r);
    CHECK(r.rc == 7);
    CHECK(r.out.find("NOT_SERVING") != std::string::npos);
    r = ctl({"info", "--timeout", "300ms"}, env);
    CHECK(r.rc == 6);
    CHECK(r.err.find("DEADLINE_EXCEEDED") != std::string::npos);
    CHECK(ctl({"info"}, {{"MACP_ADDR", env.at("MACP_ADDR")}, {"MACP_PLAINTEXT", "1"}, {"MACP_TIMEOUT", "0.3"}}).rc ==
          6);
    CHECK(ctl({"modes"}, env).rc == 8);
    CHECK(ctl({"sessions", "get", "x"}, env).rc == 4);
    CHECK(ctl({"sessions", "list"}, env).rc == 8);
    r = ctl({"send", "-s", "x", "-m", kMultiRound, "-t", "Contribute", "--payload", "{}"}, env);
    CHECK(r.rc == 8);
    CHECK(r.err.find("INTERNAL_ERROR") != std::string::npos);
    CHECK(ctl({"policies", "list"}, env).rc == 8);  // UNIMPLEMENTED
    server->Shutdown();
}

TEST_CASE("macpctl: environment defaults, flags win, token files", "[integration][macpctl]") {
    DevServer s;
    TempDir dir;
    // Flags beat the environment.
    auto env = s.env();
    env["MACP_ADDR"] = "127.0.0.1:" + std::to_string(free_port());
    CHECK(ctl({"health"}, env).rc == 4);
    CHECK(ctl({"health", "--addr", s.server.address()}, env).rc == 0);
    CHECK(ctl({"health", "-a", "http://" + s.server.address()}, {}).rc == 0);  // http:// = plaintext
    // MACP_OUTPUT and --output.
    env = s.env();
    env["MACP_OUTPUT"] = "json";
    auto r = ctl({"health"}, env);
    CHECK(std::string(json(r.out)["status"].GetString()) == "SERVING");
    r = ctl({"health", "-o", "table"}, env);
    CHECK(r.out.find("status   SERVING") != std::string::npos);
    CHECK(r.out.find('{') == std::string::npos);
    // MACP_TOKEN_FILE (the trailing newline dropped); --token beats MACP_TOKEN.
    std::ofstream(dir.path() / "token") << "carol\n";
    env = s.env();
    env.erase("MACP_TOKEN");
    env["MACP_TOKEN_FILE"] = (dir.path() / "token").string();
    r = ctl({"start", "-m", kMultiRound, "-p", "carol", "-o", "json"}, env);
    REQUIRE(r.rc == 0);
    const std::string sid = json(r.out)["session_id"].GetString();
    r = ctl({"sessions", "get", sid, "-o", "json", "--token", "carol"}, s.env("dave"));
    REQUIRE(r.rc == 0);
    CHECK(std::string(json(r.out)["initiator"].GetString()) == "carol");
    CHECK(ctl({"sessions", "get", sid}, s.env("dave")).rc == 5);
    // No token at all on a dev-mode server: UNAUTHENTICATED.
    env = s.env();
    env.erase("MACP_TOKEN");
    r = ctl({"sessions", "list"}, env);
    CHECK(r.rc == 5);
    CHECK(r.err.find("UNAUTHENTICATED") != std::string::npos);
    // Extra headers: x-macp-token is the server's other token header.
    CHECK(ctl({"sessions", "list", "-H", "x-macp-token: alice"}, env).rc == 0);
}

TEST_CASE("macpctl with static tokens: unauthenticated and forbidden are exit 5", "[integration][macpctl]") {
    TempDir tmp;
    const std::string tokens =
        R"([{"token":"tok-admin","sender":"agent://admin","can_manage_mode_registry":true},
            {"token":"tok-agent","sender":"agent://agent"}])";
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_JSON", tokens}}, tmp.path() / "data");
    REQUIRE(server.start());
    const std::map<std::string, std::string> env{{"MACP_ADDR", server.address()}, {"MACP_PLAINTEXT", "1"}};
    auto with = [&](const std::string& token) {
        auto e = env;
        e["MACP_TOKEN"] = token;
        return e;
    };
    CHECK(ctl({"sessions", "list"}, env).rc == 5);
    CHECK(ctl({"sessions", "list"}, with("tok-wrong")).rc == 5);
    CHECK(ctl({"sessions", "list"}, with("tok-agent")).rc == 0);
    auto r = ctl({"policies", "register", "policy.x", "-m", "*"}, with("tok-agent"));
    INFO(r);
    CHECK(r.rc == 5);
    CHECK(ctl({"policies", "register", "policy.x", "-m", "*"}, with("tok-admin")).rc == 0);
    // A spoofed sender is UNAUTHENTICATED in the Ack: exit 5, the code printed.
    r = ctl({"start", "-m", kMultiRound, "-p", "agent://agent", "--sender", "agent://admin"}, with("tok-agent"));
    CHECK(r.rc == 5);
    CHECK(r.err.find("UNAUTHENTICATED") != std::string::npos);
    r = ctl({"start", "-m", kMultiRound, "-p", "agent://agent", "-o", "json"}, with("tok-agent"));
    REQUIRE(r.rc == 0);
    CHECK(ctl({"sessions", "get", json(r.out)["session_id"].GetString(), "-o", "json"}, with("tok-agent")).rc == 0);
    // health needs no credentials.
    CHECK(ctl({"health"}, env).rc == 0);
}

TEST_CASE("macpctl over TLS and mTLS", "[integration][macpctl][tls]") {
    TempDir tmp;
    Pki pki{tmp.path()};
    REQUIRE(pki.ca("ca1"));
    REQUIRE(pki.ca("other-ca"));
    REQUIRE(pki.leaf("server", "ca1", "localhost", "IP:127.0.0.1,DNS:localhost,DNS:macp.internal"));
    REQUIRE(pki.leaf("alice", "ca1", "alice-cn", "DNS:alice.agents.example"));
    REQUIRE(pki.leaf("mallory", "other-ca", "mallory", "DNS:mallory.example"));
    const std::string tokens = R"([{"token":"tok-alice","sender":"agent://alice","can_manage_mode_registry":true}])";
    ServerProcess server({{"MACP_TLS_CERT_PATH", pki.pem("server")},
                          {"MACP_TLS_KEY_PATH", pki.key("server")},
                          {"MACP_TLS_CLIENT_CA_PATH", pki.pem("ca1")},
                          {"MACP_AUTH_TOKENS_JSON", tokens}},
                         tmp.path() / "data");
    REQUIRE(server.start());

    const std::vector<std::string> mtls{"--cacert", pki.pem("ca1"),   "--cert",  pki.pem("alice"),
                                        "--key",    pki.key("alice"), "--token", "tok-alice",
                                        "--addr",   server.address()};
    auto with = [&](std::vector<std::string> args, const std::vector<std::string>& extra) {
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    };
    auto r = ctl(with({"health"}, mtls), {});
    INFO(r);
    CHECK(r.rc == 0);
    r = ctl(with({"start", "-m", kMultiRound, "-p", "agent://alice", "-q"}, mtls), {});
    REQUIRE(r.rc == 0);
    r = ctl(with({"sessions", "list", "-o", "json"}, mtls), {});
    REQUIRE(r.rc == 0);
    CHECK(json(r.out)["sessions"].Size() == 1);

    // The same from the environment, with https:// and a name checked instead of the IP.
    const std::map<std::string, std::string> env{
        {"MACP_ADDR", "https://" + server.address()}, {"MACP_CA_FILE", pki.pem("ca1")},
        {"MACP_CLIENT_CERT", pki.pem("alice")},       {"MACP_CLIENT_KEY", pki.key("alice")},
        {"MACP_SERVER_NAME", "macp.internal"},        {"MACP_TOKEN", "tok-alice"}};
    r = ctl({"policies", "list"}, env);
    CHECK(r.rc == 0);
    auto bad_name = env;
    bad_name["MACP_SERVER_NAME"] = "not-in-the-cert.example";
    CHECK(ctl({"policies", "list"}, bad_name).rc == 4);

    // Handshake failures are exit 4: no client certificate, one from another CA, an untrusted
    // server (system trust store), plaintext towards TLS.
    CHECK(ctl({"health", "--addr", server.address(), "--cacert", pki.pem("ca1")}, {}).rc == 4);
    CHECK(ctl({"health", "--addr", server.address(), "--cacert", pki.pem("ca1"), "--cert", pki.pem("mallory"), "--key",
               pki.key("mallory")},
              {})
              .rc == 4);
    CHECK(ctl({"health", "--addr", server.address(), "--cert", pki.pem("alice"), "--key", pki.key("alice")}, {}).rc ==
          4);
    r = ctl({"health", "--addr", server.address(), "--plaintext"}, {});
    CHECK(r.rc == 4);
    CHECK(r.err.find("drop --plaintext") != std::string::npos);
    // TLS, but no token: the certificate is no identity here.
    CHECK(ctl({"sessions", "list", "--addr", server.address(), "--cacert", pki.pem("ca1"), "--cert", pki.pem("alice"),
               "--key", pki.key("alice")},
              {})
              .rc == 5);
}

TEST_CASE("macpctl help: every command, and the man page lists them", "[integration][macpctl]") {
    auto r = ctl({"--help"});
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("Exit status:") != std::string::npos);
    CHECK(r.out.find("MACP_TOKEN_FILE") != std::string::npos);
    const std::string man = slurp(MACPCTL_MAN_PAGE);
    REQUIRE_FALSE(man.empty());
    std::vector<std::string> names;
    {
        std::istringstream in(r.out);
        bool in_commands = false;
        for (std::string l; std::getline(in, l);) {
            if (l == "Commands:") {
                in_commands = true;
                continue;
            }
            if (!in_commands) continue;
            if (l.empty()) break;
            auto name = l.substr(2, l.find("  ", 2) - 2);
            if (name.rfind("help", 0) == 0) continue;
            names.push_back(name);
        }
    }
    CHECK(names.size() == 16);
    for (const auto& name : names) {
        std::vector<std::string> args;
        std::istringstream words(name);
        for (std::string w; words >> w;) args.push_back(w);
        auto help = args;
        help.emplace_back("--help");
        auto h = ctl(help);
        INFO(name << "\n" << h);
        CHECK(h.rc == 0);
        CHECK(h.out.find("Usage: macpctl [global options] " + name) != std::string::npos);
        CHECK(h.out.find("Exit status:") != std::string::npos);
        auto via_help = args;
        via_help.insert(via_help.begin(), "help");
        CHECK(ctl(via_help).out == h.out);
        // The man page has a section per command ("\fBsessions list\fR" in roff).
        CHECK(man.find("\\fB" + name + "\\fR") != std::string::npos);
    }
    // Every exit status the help lists is in the man page too.
    for (int code = 0; code <= 8; ++code) CHECK(man.find(".IP " + std::to_string(code)) != std::string::npos);
    // The man page renders without warnings (groff, as lintian checks it).
    if (sh("command -v groff")) {
        TempDir dir;
        const auto warnings = dir.path() / "warnings";
        const int rc = std::system(
            ("groff -man -ww -Tutf8 -z '" + std::string(MACPCTL_MAN_PAGE) + "' 2>'" + warnings.string() + "'").c_str());
        CHECK(rc == 0);
        CHECK(slurp(warnings).empty());
    }
}
