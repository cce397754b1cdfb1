// Session leases and fencing of storage-redis (ABI 1.2, storage.h "FENCING"; issue #16) against a
// real redis-server (tests/support RedisServer, stopped by PID). Lease expiry is waited for in
// bounded polling loops, never asserted in time.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"
#include "redis_storage.hpp"
#include "redis_test_support.hpp"

using macp::sdk::CallContext;
using macp::sdk::Config;
using macp::sdk::Lease;
using macp::sdk::LogAppend;
using macp::storage_redis::RedisStorage;
using macp::storage_redis::testing::ids_of;
using macp::storage_redis::testing::log_of;
using macp::storage_redis::testing::status_of;
using macp::test::RedisServer;

namespace {

const CallContext kUnfenced(nullptr);

// A call context carrying a fencing token (what the host passes in cluster mode).
class Fence {
public:
    explicit Fence(uint64_t token) : raw_{sizeof(macp_call_context), nullptr, 0, token, nullptr}, cc_(&raw_) {}
    Fence(const Fence&) = delete;
    Fence& operator=(const Fence&) = delete;
    [[nodiscard]] const CallContext& cc() const { return cc_; }
    [[nodiscard]] const macp_call_context* raw() const { return &raw_; }

private:
    macp_call_context raw_;
    CallContext cc_;
};

std::string sid(int i) {
    return "lease-session-" + std::to_string(1000000000000 + i);
}

std::unique_ptr<RedisStorage> open(const RedisServer& redis) {
    return std::make_unique<RedisStorage>(Config({{"MACP_REDIS_URL", redis.url()}}));
}

// Acquires for `holder` once the current lease has expired (bounded: 10 s).
Lease acquire_after_expiry(RedisStorage& s, const std::string& id, const std::string& holder, uint32_t ttl_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    Lease l;
    while (std::chrono::steady_clock::now() < deadline) {
        l = s.acquire_lease(id, holder, ttl_ms, 0, kUnfenced);
        if (l.granted) return l;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("the lease of " << id << " never expired (held by " << l.holder << ")");
    return l;
}

}  // namespace

TEST_CASE("leases: one holder at a time; a takeover after expiry raises the token", "[lease]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto s = open(redis);
    const std::string x = sid(1);

    const Lease a = s->acquire_lease(x, "node-a/1", 150, 0, kUnfenced);
    CHECK(a.granted);
    CHECK_FALSE(a.fenced);
    CHECK(a.token == 1);
    CHECK(a.holder == "node-a/1");
    CHECK(a.remaining_ms > 0);
    CHECK(a.remaining_ms <= 150);

    // Another holder gets nothing while the lease is live, and learns who holds it.
    const Lease b = s->acquire_lease(x, "node-b/1", 5000, 0, kUnfenced);
    CHECK_FALSE(b.granted);
    CHECK_FALSE(b.fenced);
    CHECK(b.token == 1);
    CHECK(b.holder == "node-a/1");

    // The holder renews (by acquiring again or with its token) without raising the token.
    CHECK(s->acquire_lease(x, "node-a/1", 150, 0, kUnfenced).token == 1);
    const Lease renewed = s->acquire_lease(x, "node-a/1", 150, 1, kUnfenced);
    CHECK(renewed.granted);
    CHECK(renewed.token == 1);

    // Expired: the next holder takes over under a new token; the old one's renewal is fenced.
    const Lease taken = acquire_after_expiry(*s, x, "node-b/1", 60000);
    CHECK(taken.token == 2);
    CHECK(taken.holder == "node-b/1");
    const Lease lost = s->acquire_lease(x, "node-a/1", 150, 1, kUnfenced);
    CHECK_FALSE(lost.granted);
    CHECK(lost.fenced);
    CHECK(lost.token == 2);
    CHECK(lost.holder == "node-b/1");

    // An expired lease nobody took over is renewed under the same token.
    const std::string y = sid(2);
    CHECK(s->acquire_lease(y, "node-a/1", 50, 0, kUnfenced).token == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    const Lease back = s->acquire_lease(y, "node-a/1", 5000, 1, kUnfenced);
    CHECK(back.granted);
    CHECK(back.token == 1);

    // Bad arguments are refused before anything is written.
    CHECK(status_of([&] { s->acquire_lease(x, "", 100, 0, kUnfenced); }) == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(status_of([&] { s->acquire_lease(x, "has space", 100, 0, kUnfenced); }) == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(status_of([&] { s->acquire_lease(x, "n", 0, 0, kUnfenced); }) == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(status_of([&] { s->acquire_lease(x, std::string(MACP_LEASE_HOLDER_MAX + 1, 'n'), 100, 0, kUnfenced); }) ==
          MACP_STATUS_INVALID_ARGUMENT);
}

TEST_CASE("renew_leases: many leases in one call, each renewed or fenced", "[lease]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto s = open(redis);
    std::vector<std::string> ids;
    std::vector<macp::sdk::LeaseRef> refs;
    for (int i = 0; i < 300; ++i) ids.push_back(sid(100 + i));
    for (const auto& id : ids) refs.push_back({id, s->acquire_lease(id, "node-a/1", 60000, 0, kUnfenced).token});
    // ids[1] is taken over by another holder (released first), ids[2] is passed a wrong token,
    // ids[3] was never leased; ids[4]'s lease expired but nobody took it: renewed.
    s->release_lease(ids[1], "node-a/1", refs[1].token, kUnfenced);
    REQUIRE(s->acquire_lease(ids[1], "node-b/1", 60000, 0, kUnfenced).granted);
    refs[2].token += 5;
    const std::string never = sid(99);
    refs[3] = {never, 1};
    redis.command({"DEL", macp::storage_redis::lease_key("macp:", ids[4])});
    std::vector<macp_status> status(refs.size(), MACP_STATUS_INTERNAL);
    s->renew_leases("node-a/1", 60000, refs, status, kUnfenced);
    CHECK(status[0] == MACP_STATUS_OK);
    CHECK(status[1] == MACP_STATUS_FENCED);
    CHECK(status[2] == MACP_STATUS_FENCED);
    CHECK(status[3] == MACP_STATUS_FENCED);
    CHECK(status[4] == MACP_STATUS_OK);
    for (std::size_t i = 5; i < refs.size(); ++i) CHECK(status[i] == MACP_STATUS_OK);
    CHECK(redis.command({"GET", macp::storage_redis::lease_key("macp:", ids[4])}) == "node-a/1");
    CHECK(redis.command({"GET", macp::storage_redis::lease_key("macp:", ids[1])}) == "node-b/1");
    CHECK(redis.command({"EXISTS", macp::storage_redis::lease_key("macp:", never)}) == "0");

    // Through the C vtable: PARTIAL with per-item statuses.
    const macp_storage_vtable v = macp::sdk::make_storage_vtable<RedisStorage>();
    const char* sids[] = {ids[0].c_str(), ids[1].c_str()};
    const uint64_t tokens[] = {refs[0].token, refs[1].token};
    macp_status st[2] = {MACP_STATUS_OK, MACP_STATUS_OK};
    const macp_call_context none{sizeof(macp_call_context), nullptr, 0, 0, nullptr};
    CHECK(v.renew_leases(s.get(), "node-a/1", 60000, sids, tokens, 2, st, &none) == MACP_STATUS_PARTIAL);
    CHECK(st[0] == MACP_STATUS_OK);
    CHECK(st[1] == MACP_STATUS_FENCED);
}

TEST_CASE("leases: release ends the lease only for its holder and token", "[lease]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto s = open(redis);
    const std::string x = sid(3);
    CHECK(s->acquire_lease(x, "node-a/1", 60000, 0, kUnfenced).token == 1);
    s->release_lease(x, "node-b/1", 1, kUnfenced);  // not the holder: nothing happens
    s->release_lease(x, "node-a/1", 7, kUnfenced);  // not its token: nothing happens
    CHECK_FALSE(s->acquire_lease(x, "node-b/1", 60000, 0, kUnfenced).granted);
    s->release_lease(x, "node-a/1", 1, kUnfenced);
    const Lease b = s->acquire_lease(x, "node-b/1", 60000, 0, kUnfenced);
    CHECK(b.granted);
    CHECK(b.token == 2);
    s->release_lease(sid(4), "node-a/1", 1, kUnfenced);  // never leased: OK, nothing to release
}

TEST_CASE("fencing: a stale holder's writes store nothing, the current holder's land", "[lease]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto s = open(redis);
    const std::string x = sid(5);
    const std::string other = sid(6);

    const Lease a = s->acquire_lease(x, "node-a/1", 100, 0, kUnfenced);
    REQUIRE(a.token == 1);
    const Fence old_token(a.token);
    s->create_session_storage(x, old_token.cc());
    s->append_log_entry(x, "a1", old_token.cc());
    s->save_session(x, "snap-a", old_token.cc());

    const Lease b = acquire_after_expiry(*s, x, "node-b/1", 60000);
    REQUIRE(b.token == 2);
    const Fence new_token(b.token);

    // The old holder (paused past its lease, now awake) is refused on every kind of write.
    std::string message;
    CHECK(status_of([&] { s->append_log_entry(x, "a2", old_token.cc()); }, &message) == MACP_STATUS_FENCED);
    CHECK_THAT(message, Catch::Contains("fencing token 1") && Catch::Contains(x));
    CHECK(status_of([&] { s->save_session(x, "snap-stale", old_token.cc()); }) == MACP_STATUS_FENCED);
    CHECK(status_of([&] { s->replace_log(x, {"stale"}, old_token.cc()); }) == MACP_STATUS_FENCED);
    CHECK(status_of([&] { s->create_session_storage(x, old_token.cc()); }) == MACP_STATUS_FENCED);
    CHECK(status_of([&] { s->delete_session(x, old_token.cc()); }) == MACP_STATUS_FENCED);
    // In a batch the stale session's items fail alone; an unfenced session's items commit.
    {
        const std::vector<LogAppend> items{{x, "a3", 1}, {other, "o1", 0}, {x, "a4", 1}};
        std::vector<macp_status> status(items.size(), MACP_STATUS_INTERNAL);
        s->append_log_batch(items, status, kUnfenced);
        CHECK(status == std::vector<macp_status>{MACP_STATUS_FENCED, MACP_STATUS_OK, MACP_STATUS_FENCED});
    }
    CHECK(log_of(*s, x) == std::vector<std::string>{"a1"});
    CHECK(s->load_session(x, kUnfenced) == std::optional<std::string>("snap-a"));
    CHECK(log_of(*s, other) == std::vector<std::string>{"o1"});
    CHECK(ids_of(*s) == std::set<std::string>{x, other});

    // The new holder writes on top of the same history: no second history exists.
    {
        const std::vector<LogAppend> items{{x, "b1", b.token}, {x, "b2", b.token}};
        std::vector<macp_status> status(items.size(), MACP_STATUS_INTERNAL);
        s->append_log_batch(items, status, kUnfenced);
        CHECK(status == std::vector<macp_status>{MACP_STATUS_OK, MACP_STATUS_OK});
    }
    s->save_session(x, "snap-b", new_token.cc());
    CHECK(log_of(*s, x) == std::vector<std::string>{"a1", "b1", "b2"});
    CHECK(s->load_session(x, kUnfenced) == std::optional<std::string>("snap-b"));
    s->replace_log(x, {"c1", "c2"}, new_token.cc());
    CHECK(log_of(*s, x) == std::vector<std::string>{"c1", "c2"});

    // A long replace goes through the script in slices (Lua's unpack limit).
    std::vector<std::string> many;
    for (int i = 0; i < 5000; ++i) many.push_back("r" + std::to_string(i));
    const std::vector<std::string_view> views(many.begin(), many.end());
    s->replace_log(x, views, new_token.cc());
    CHECK(log_of(*s, x) == many);

    // A fenced batch longer than one unpack() slice, beside a stale session, in one script run.
    {
        std::vector<LogAppend> items;
        std::vector<std::string> expected = many;
        std::vector<std::string> more;
        more.reserve(2500);
        for (int i = 0; i < 2500; ++i) more.push_back("m" + std::to_string(i));
        for (const auto& m : more) {
            items.push_back({x, m, b.token});
            expected.push_back(m);
        }
        items.push_back({other, "o-stale", 1});  // `other` was never leased: token 1 is not its token
        std::vector<macp_status> status(items.size(), MACP_STATUS_INTERNAL);
        s->append_log_batch(items, status, kUnfenced);
        CHECK(status.back() == MACP_STATUS_FENCED);
        status.pop_back();
        CHECK(status == std::vector<macp_status>(more.size(), MACP_STATUS_OK));
        CHECK(log_of(*s, x) == expected);
        CHECK(log_of(*s, other) == std::vector<std::string>{"o1"});
    }

    // delete_session under the current token removes the session, its lease and its token.
    s->delete_session(x, new_token.cc());
    CHECK(ids_of(*s) == std::set<std::string>{other});
    CHECK(log_of(*s, x).empty());
    CHECK(redis.command({"EXISTS", macp::storage_redis::token_key("macp:", x)}) == "0");
    CHECK(redis.command({"EXISTS", macp::storage_redis::lease_key("macp:", x)}) == "0");

    // A refused writer never brings the deleted session's id back (a ghost id with no data).
    CHECK(status_of([&] { s->create_session_storage(x, new_token.cc()); }) == MACP_STATUS_FENCED);
    CHECK(status_of([&] { s->save_session(x, "ghost", new_token.cc()); }) == MACP_STATUS_FENCED);
    CHECK(status_of([&] { s->replace_log(x, {"ghost"}, new_token.cc()); }) == MACP_STATUS_FENCED);
    {
        std::vector<macp_status> status(1, MACP_STATUS_INTERNAL);
        s->append_log_batch({{x, "ghost", b.token}}, status, kUnfenced);
        CHECK(status[0] == MACP_STATUS_FENCED);
    }
    CHECK(ids_of(*s) == std::set<std::string>{other});
    CHECK(log_of(*s, x).empty());
}

TEST_CASE("fencing through the C ABI: FENCED statuses, macp_lease, 1.1-sized batch items", "[lease]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto s = open(redis);
    using Tr = macp::sdk::detail::StorageTrampolines<RedisStorage>;
    const macp_storage_vtable v = macp::sdk::make_storage_vtable<RedisStorage>();
    CHECK(v.acquire_lease == &Tr::acquire_lease);
    CHECK(v.release_lease == &Tr::release_lease);
    const std::string x = sid(7);
    const Fence none(0);

    macp_lease out{};
    out.struct_size = sizeof(macp_lease);
    REQUIRE(v.acquire_lease(s.get(), x.c_str(), "node-a/1", 100, 0, &out, none.raw()) == MACP_STATUS_OK);
    CHECK(out.granted == 1);
    CHECK(out.token == 1);
    CHECK(std::string(out.holder) == "node-a/1");
    Lease b = acquire_after_expiry(*s, x, "node-b/1", 60000);
    REQUIRE(b.token == 2);
    CHECK(v.acquire_lease(s.get(), x.c_str(), "node-a/1", 100, 1, &out, none.raw()) == MACP_STATUS_FENCED);
    CHECK(out.granted == 0);
    CHECK(out.token == 2);
    CHECK(std::string(out.holder) == "node-b/1");

    // Items of a 1.1 host carry no token: the call context's applies to them.
    const std::string rec = "a1";
    macp_log_append item{};
    item.struct_size = static_cast<uint32_t>(offsetof(macp_log_append, fencing_token));
    item.session_id = x.c_str();
    item.record = reinterpret_cast<const uint8_t*>(rec.data());
    item.record_len = rec.size();
    item.fencing_token = 2;  // beyond struct_size: must not be read
    const macp_log_append* items[] = {&item};
    macp_status st = MACP_STATUS_INTERNAL;
    const Fence stale(1);
    CHECK(v.append_log_batch(s.get(), items, 1, &st, stale.raw()) == MACP_STATUS_PARTIAL);
    CHECK(st == MACP_STATUS_FENCED);
    const Fence current(2);
    CHECK(v.append_log_batch(s.get(), items, 1, &st, current.raw()) == MACP_STATUS_OK);
    CHECK(st == MACP_STATUS_OK);
    // A 1.2 item's own token wins over the call's.
    item.struct_size = sizeof(macp_log_append);
    item.fencing_token = 1;
    CHECK(v.append_log_batch(s.get(), items, 1, &st, current.raw()) == MACP_STATUS_PARTIAL);
    CHECK(st == MACP_STATUS_FENCED);
    CHECK(log_of(*s, x) == std::vector<std::string>{"a1"});
    CHECK(v.append_log_entry(s.get(), x.c_str(), item.record, item.record_len, stale.raw()) == MACP_STATUS_FENCED);
    CHECK(v.release_lease(s.get(), x.c_str(), "node-b/1", 2, none.raw()) == MACP_STATUS_OK);
    CHECK(s->acquire_lease(x, "node-a/2", 60000, 0, kUnfenced).token == 3);
}
