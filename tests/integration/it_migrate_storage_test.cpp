// `macp-runtime --migrate-storage FROM TO` (issue #10): a store written by a server is copied
// file -> file and served again with its history, dedup state and registered policy; a
// non-empty target is refused; the Rust reference runtime's legacy sessions.json/logs.json
// layout is converted with a broken session listed, not dropped.
#include <csignal>
#include <fstream>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> dev_env() {
    return {{"MACP_ALLOW_INSECURE", "1"}};
}

int migrate(const std::vector<std::string>& args, std::string& out) {
    std::vector<std::string> argv{"--migrate-storage"};
    argv.insert(argv.end(), args.begin(), args.end());
    // No MACP_ALLOW_INSECURE: a migration serves nothing, so listener security does not matter.
    return ServerProcess::run_to_exit({}, argv, out, std::chrono::seconds(60));
}

std::map<std::string, uint32_t> activity(const macp::v1::SessionMetadata& md) {
    std::map<std::string, uint32_t> out;
    for (const auto& a : md.participant_activity()) out[a.participant_id()] = a.message_count();
    return out;
}

// Every path below `dir` (files and directories): a migration source must not gain or lose any.
std::set<std::string> tree(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
    return out;
}

// A reference log entry (STO-LOG-1): raw_payload as a JSON array of byte values.
std::string reference_entry(const std::string& message_id, const std::string& sender, const std::string& type,
                            const std::string& payload, const std::string& session_id, int64_t at) {
    std::string bytes;
    for (unsigned char c : payload) bytes += (bytes.empty() ? "" : ",") + std::to_string(c);
    return R"({"message_id":")" + message_id + R"(","received_at_ms":)" + std::to_string(at) + R"(,"sender":")" +
           sender + R"(","message_type":")" + type + R"(","raw_payload":[)" + bytes +
           R"(],"entry_kind":"Incoming","session_id":")" + session_id + R"(","mode":")" + kMultiRound +
           R"(","macp_version":"1.0","timestamp_unix_ms":)" + std::to_string(at) + "}";
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct Written {
    std::string open_sid = new_session_id();
    std::string resolved_sid = new_session_id();
};

// Two sessions (one open with several messages, one resolved) and a registered policy.
void populate(ServerProcess& server, const Written& w) {
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");
    REQUIRE(coord.send(envelope("SessionStart", w.open_sid, kMultiRound, "s", session_start_payload({"alice", "bob"})))
                .ok());
    REQUIRE(alice.send(envelope("Contribute", w.open_sid, kMultiRound, "a1", contribute_json("x"))).ok());
    REQUIRE(alice.send(envelope("Contribute", w.open_sid, kMultiRound, "a2", contribute_json("y"))).ok());
    REQUIRE(bob.send(envelope("Contribute", w.open_sid, kMultiRound, "b1", contribute_json("z"))).ok());
    REQUIRE(
        coord.send(envelope("SessionStart", w.resolved_sid, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(alice.send(envelope("Contribute", w.resolved_sid, kMultiRound, "a1", contribute_json("v"))).ok());
    auto c = coord.send(
        envelope("Commitment", w.resolved_sid, kMultiRound, "c", commitment_payload("multi_round.converged", true)));
    REQUIRE(c.session_state() == macp::v1::SESSION_STATE_RESOLVED);

    macp::v1::RegisterPolicyRequest req;
    auto* d = req.mutable_policy_descriptor();
    d->set_policy_id("policy.migrated.task");
    d->set_mode("macp.mode.task.v1");
    d->set_rules(R"({"completion":{"require_output":true}})");
    d->set_schema_version(1);
    macp::v1::RegisterPolicyResponse resp;
    auto ctx = coord.context();
    REQUIRE(coord.stub().RegisterPolicy(ctx.get(), req, &resp).ok());
    REQUIRE(resp.ok());
    REQUIRE(server.stop(SIGTERM) == 0);
}

// The server holds what populate() wrote: states, activity, dedup, the policy. Read-only checks
// first, so that it can run on several copies; then one new message.
void check_served(ServerProcess& server, const Written& w) {
    REQUIRE(server.start());
    CHECK(server.log().find("recovered 2 sessions") != std::string::npos);
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(w.open_sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    auto act = activity(md);
    CHECK(act["alice"] == 2);
    CHECK(act["bob"] == 1);
    auto dup = bob.send(envelope("Contribute", w.open_sid, kMultiRound, "b1", contribute_json("z")));
    CHECK(dup.ok());
    CHECK(dup.duplicate());
    REQUIRE(alice.get_session(w.resolved_sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_RESOLVED);
    auto closed = alice.send(envelope("Contribute", w.resolved_sid, kMultiRound, "a9", contribute_json("v")));
    CHECK(closed.error().code() == "SESSION_NOT_OPEN");
    macp::v1::GetPolicyRequest req;
    req.set_policy_id("policy.migrated.task");
    macp::v1::GetPolicyResponse resp;
    auto ctx = alice.context();
    CHECK(alice.stub().GetPolicy(ctx.get(), req, &resp).ok());
    // Mode state survived: alice's latest value is "y", so bob agreeing converges the session and a
    // further Contribute is rejected (MODE-MR-6).
    REQUIRE(bob.send(envelope("Contribute", w.open_sid, kMultiRound, "b2", contribute_json("y"))).ok());
    auto conv = alice.send(envelope("Contribute", w.open_sid, kMultiRound, "a3", contribute_json("q")));
    CHECK(conv.error().code() == "INVALID_ENVELOPE");
}

}  // namespace

TEST_CASE("a file store migrates to another file store and is served from there", "[integration][migration]") {
    TempDir dir;
    const auto a = dir.path() / "a";
    const auto b = dir.path() / "b";
    const Written w;
    {
        ServerProcess server(dev_env(), a);
        populate(server, w);
    }
    const auto tree_before = tree(a);

    std::string out;
    const int rc = migrate({"file:" + a.string(), "file:" + b.string()}, out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out.find("sessions copied:        2") != std::string::npos);
    CHECK(out.find("log records copied:     7") != std::string::npos);
    CHECK(out.find("policies records copied: 1") != std::string::npos);
    CHECK(out.find("unconvertible sessions: 0") != std::string::npos);
    CHECK(out.find("verified: the target was read back") != std::string::npos);
    CHECK(tree(a) == tree_before);

    SECTION("the target serves every session with its history") {
        ServerProcess server(dev_env(), b);
        check_served(server, w);
    }

    SECTION("a non-empty target is refused unless --force") {
        std::string again;
        CHECK(migrate({"file:" + a.string(), "file:" + b.string()}, again) == 1);
        CHECK(again.find("the target is not empty (2 sessions, 1 policies records)") != std::string::npos);
        std::string forced;
        CHECK(migrate({"file:" + a.string(), "file:" + b.string(), "--force"}, forced) == 0);
        CHECK(forced.find("target already held 2 sessions") != std::string::npos);
    }

    SECTION("a missing or empty source is an error that creates nothing") {
        std::string missing;
        CHECK(migrate({"file:" + (dir.path() / "nowhere").string(), "file:" + (dir.path() / "c").string()}, missing) ==
              1);
        CHECK(missing.find("does not exist") != std::string::npos);
        CHECK_FALSE(fs::exists(dir.path() / "nowhere"));
        CHECK_FALSE(fs::exists(dir.path() / "c"));
        fs::create_directories(dir.path() / "empty");
        std::string empty;
        CHECK(migrate({"file:" + (dir.path() / "empty").string(), "file:" + (dir.path() / "c").string()}, empty) == 1);
        CHECK(empty.find("is empty") != std::string::npos);
        CHECK(fs::is_empty(dir.path() / "empty"));
        std::string same;
        CHECK(migrate({"file:" + a.string(), "file:" + (a / ".").string()}, same) == 1);
        CHECK(same.find("the same store") != std::string::npos);
    }
}

TEST_CASE("the reference runtime's legacy layout migrates, a broken session is listed", "[integration][migration]") {
    TempDir dir;
    const auto legacy = dir.path() / "legacy";
    const auto b = dir.path() / "b";
    fs::create_directories(legacy);
    const auto good = new_session_id();
    const auto broken = new_session_id();
    const auto t = now_ms();
    const std::string log_good =
        "[" + reference_entry("s", "coord", "SessionStart", session_start_payload({"alice", "bob"}), good, t) + "," +
        reference_entry("a1", "alice", "Contribute", contribute_json("x"), good, t + 1) + "]";
    // No SessionStart: the reference could not replay it either.
    const std::string log_broken =
        "[" + reference_entry("a1", "alice", "Contribute", contribute_json("x"), broken, t) + "]";
    {
        std::ofstream(legacy / "logs.json")
            << "{\"" << good << "\":" << log_good << ",\"" << broken << "\":" << log_broken << "}";
        std::ofstream(legacy / "sessions.json")
            << "{\"" << good << R"(":{"schema_version":2,"session_id":")" << good
            << R"(","state":"Open","mode":"ext.multi_round.v1","participants":["alice","bob"]}})";
    }
    const auto tree_before = tree(legacy);

    std::string out;
    CHECK(migrate({"file:" + legacy.string(), "file:" + b.string()}, out) == 1);
    INFO(out);
    CHECK(out.find(broken + ": its log does not begin with a SessionStart") != std::string::npos);
    CHECK(out.find("nothing was written") != std::string::npos);
    CHECK_FALSE(fs::exists(b));  // the target is not even opened
    CHECK(out.find("legacy layout") != std::string::npos);

    std::string skipped;
    REQUIRE(migrate({"file:" + legacy.string(), "file:" + b.string(), "--skip-unconvertible"}, skipped) == 0);
    INFO(skipped);
    CHECK(skipped.find("sessions copied:        1") != std::string::npos);
    CHECK(skipped.find("unconvertible sessions: 1") != std::string::npos);
    CHECK(skipped.find(broken) != std::string::npos);
    CHECK(tree(legacy) == tree_before);
    CHECK_FALSE(fs::exists(legacy / "sessions"));

    ServerProcess server(dev_env(), b);
    REQUIRE(server.start());
    Client alice(server.address(), "alice");
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(good, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    CHECK(activity(md)["alice"] == 1);
    auto dup = alice.send(envelope("Contribute", good, kMultiRound, "a1", contribute_json("x")));
    CHECK(dup.ok());
    CHECK(dup.duplicate());
    CHECK(alice.send(envelope("Contribute", good, kMultiRound, "a2", contribute_json("y"))).ok());
    CHECK_FALSE(alice.get_session(broken, &md).ok());
}

TEST_CASE("file -> rocksdb -> file preserves every session", "[integration][migration][rocksdb]") {
    if (!fs::exists(fs::path(ServerProcess::plugin_dir()) / "storage-rocksdb.so")) {
        WARN("storage-rocksdb.so is not built; the rocksdb round trip is skipped");
        return;
    }
    TempDir dir;
    const auto a = dir.path() / "a";
    const auto db = dir.path() / "db";
    const auto c = dir.path() / "c";
    const Written w;
    {
        ServerProcess server(dev_env(), a);
        populate(server, w);
    }
    std::string out;
    {
        const int rc = migrate({"file:" + a.string(), "rocksdb:" + db.string()}, out);
        INFO(out);
        REQUIRE(rc == 0);
        CHECK(out.find("sessions copied:        2") != std::string::npos);
        CHECK(out.find("to:   rocksdb (MACP_ROCKSDB_PATH=" + db.string() + ")") != std::string::npos);
    }
    {
        const int rc = migrate({"rocksdb:" + db.string(), "file:" + c.string()}, out);
        INFO(out);
        REQUIRE(rc == 0);
        CHECK(out.find("sessions copied:        2") != std::string::npos);
        CHECK(out.find("policies records copied: 1") != std::string::npos);
    }
    SECTION("served from rocksdb") {
        auto env = dev_env();
        env["MACP_STORAGE_BACKEND"] = "rocksdb";
        env["MACP_ROCKSDB_PATH"] = db.string();
        ServerProcess server(env, dir.path() / "unused");
        check_served(server, w);
    }
    SECTION("served from the file store it came back to") {
        ServerProcess server(dev_env(), c);
        check_served(server, w);
    }
    SECTION("a non-empty rocksdb target is refused") {
        std::string again;
        CHECK(migrate({"file:" + a.string(), "rocksdb:" + db.string()}, again) == 1);
        CHECK(again.find("the target is not empty") != std::string::npos);
    }
}

#ifdef MACP_IT_HAVE_REDIS
TEST_CASE("file -> redis -> file preserves every session", "[integration][migration][redis]") {
    // Issue #11: --migrate-storage to and from redis, with a key prefix of the migration's own.
    if (!fs::exists(fs::path(ServerProcess::plugin_dir()) / "storage-redis.so")) {
        WARN("storage-redis.so is not built; the redis round trip is skipped");
        return;
    }
    RedisServer& redis = test_redis();
    TempDir dir;
    const auto a = dir.path() / "a";
    const auto c = dir.path() / "c";
    const std::string prefix = "migrated-" + new_session_id() + ":";
    const Written w;
    {
        ServerProcess server(dev_env(), a);
        populate(server, w);
    }
    std::string out;
    {
        const int rc =
            migrate({"file:" + a.string(), "redis:" + redis.url(), "--to-set", "MACP_REDIS_KEY_PREFIX=" + prefix}, out);
        INFO(out);
        REQUIRE(rc == 0);
        CHECK(out.find("sessions copied:        2") != std::string::npos);
        CHECK(out.find("to:   redis (MACP_REDIS_URL=" + redis.url() + ")") != std::string::npos);
    }
    // Everything under the prefix, nothing outside it.
    CHECK(redis.command({"EXISTS", prefix + "sessions"}) == "1");
    {
        const int rc = migrate(
            {"redis:" + redis.url(), "file:" + c.string(), "--from-set", "MACP_REDIS_KEY_PREFIX=" + prefix}, out);
        INFO(out);
        REQUIRE(rc == 0);
        CHECK(out.find("sessions copied:        2") != std::string::npos);
        CHECK(out.find("policies records copied: 1") != std::string::npos);
    }
    SECTION("served from redis") {
        auto env = dev_env();
        env["MACP_STORAGE_BACKEND"] = "redis";
        env["MACP_REDIS_URL"] = redis.url();
        env["MACP_REDIS_KEY_PREFIX"] = prefix;
        ServerProcess server(env, dir.path() / "unused");
        check_served(server, w);
    }
    SECTION("served from the file store it came back to") {
        ServerProcess server(dev_env(), c);
        check_served(server, w);
    }
    SECTION("a non-empty redis target is refused") {
        std::string again;
        CHECK(migrate({"file:" + a.string(), "redis:" + redis.url(), "--to-set", "MACP_REDIS_KEY_PREFIX=" + prefix},
                      again) == 1);
        CHECK(again.find("the target is not empty") != std::string::npos);
    }
}
#endif

TEST_CASE("the reference runtime's v3 layout migrates record for record", "[integration][migration]") {
    TempDir dir;
    const auto ref = dir.path() / "ref";
    const auto b = dir.path() / "b";
    const auto sid = new_session_id();
    const auto t = now_ms();
    const std::string start =
        reference_entry("s", "coord", "SessionStart", session_start_payload({"alice", "bob"}), sid, t);
    const std::string contribution = reference_entry("a1", "alice", "Contribute", contribute_json("x"), sid, t + 1);
    fs::create_directories(ref / "sessions" / sid);
    std::ofstream(ref / "storage_version.json") << "{\n  \"version\": 3\n}";
    std::ofstream(ref / "sessions" / sid / "log.jsonl") << start << "\n" << contribution << "\n";
    std::ofstream(ref / "sessions" / sid / "session.json")
        << "{\n  \"schema_version\": 2,\n  \"session_id\": \"" << sid << "\",\n  \"state\": \"Open\"\n}";
    const auto tree_before = tree(ref);

    std::string out;
    const int rc = migrate({"file:" + ref.string(), "file:" + b.string()}, out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out.find("log records copied:     2") != std::string::npos);
    CHECK(out.find("snapshots copied:       1") != std::string::npos);
    CHECK(tree(ref) == tree_before);  // the source is left exactly as it was
    std::ifstream copied(b / "sessions" / sid / "log.jsonl");
    std::string line1;
    std::string line2;
    std::getline(copied, line1);
    std::getline(copied, line2);
    CHECK(line1 == start);  // byte for byte
    CHECK(line2 == contribution);

    ServerProcess server(dev_env(), b);
    REQUIRE(server.start());
    Client alice(server.address(), "alice");
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    auto dup = alice.send(envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x")));
    CHECK(dup.duplicate());
}
