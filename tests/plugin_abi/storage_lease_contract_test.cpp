// Storage contract, plugin ABI 1.2: session leases and fencing (storage.h "FENCING"). Runs for
// every backend the contract suite loads; a backend without leases must leave both operations
// NULL, and one with them must keep every rule of storage.h, checked through its C vtable.
// Lease expiry is awaited in bounded polling loops, never asserted in time.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "storage_harness.hpp"

using macp::contract::Result;
using macp::contract::Store;
using macp::contract::target;
using macp::contract::TempDir;

namespace {

std::string lease_sid(int n) {
    return "contract_lease_session_" + std::to_string(100000 + n);
}

// A store in a fresh data directory (and, for remote backends, a fresh key space).
struct LeaseFixture {
    TempDir tmp;
    Store store{tmp.path() + "/data"};
};

bool has_leases() {
    const macp_storage_vtable& vt = target().vtable();
    return vt.struct_size >= sizeof(macp_storage_vtable) && vt.acquire_lease != nullptr;
}

// Acquires for `holder` once the current lease has expired (bounded: 10 s).
macp_lease acquire_after_expiry(Store& s, const std::string& id, const std::string& holder) {
    macp_lease out{};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        const Result r = s.acquire_lease(id, holder, 60000, 0, out);
        INFO("acquire_lease -> " << r.describe());
        REQUIRE(r.ok());
        if (out.granted == 1) return out;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("the lease of " << id << " never expired (held by " << out.holder << ")");
    return out;
}

std::vector<std::string> log_of(Store& s, const std::string& id) {
    s.set_fencing_token(0);
    const Result r = s.load_log(id);
    INFO("load_log -> " << r.describe());
    REQUIRE(r.ok());
    return r.items;
}

}  // namespace

TEST_CASE("leases: both operations or neither", "[contract][lease]") {
    const macp_storage_vtable& vt = target().vtable();
    if (vt.struct_size < sizeof(macp_storage_vtable)) {
        WARN(target().label << " was built against ABI < 1.2: no leases");
        return;
    }
    CHECK((vt.acquire_lease == nullptr) == (vt.release_lease == nullptr));
    if (vt.renew_leases != nullptr) CHECK(vt.acquire_lease != nullptr);
}

TEST_CASE("renew_leases: each lease renewed or fenced, as acquire_lease would", "[contract][lease]") {
    if (!has_leases() || target().vtable().renew_leases == nullptr) {
        WARN("skipped for " << target().label << ": no renew_leases");
        return;
    }
    LeaseFixture f;
    Store& s = f.store;
    const std::string x = lease_sid(10);
    const std::string y = lease_sid(11);
    macp_lease lx{};
    macp_lease ly{};
    REQUIRE(s.acquire_lease(x, "node-a/1", 60000, 0, lx).ok());
    REQUIRE(s.acquire_lease(y, "node-a/1", 60000, 0, ly).ok());
    REQUIRE(s.release_lease(y, "node-a/1", ly.token).ok());
    macp_lease taken{};
    REQUIRE(s.acquire_lease(y, "node-b/1", 60000, 0, taken).ok());
    const char* ids[] = {x.c_str(), y.c_str()};
    const uint64_t tokens[] = {lx.token, ly.token};
    macp_status st[2] = {MACP_STATUS_INTERNAL, MACP_STATUS_INTERNAL};
    macp_call_context ctx{};
    ctx.struct_size = sizeof(ctx);
    const macp_status r = s.vt().renew_leases(s.instance(), "node-a/1", 60000, ids, tokens, 2, st, &ctx);
    CHECK(r == MACP_STATUS_PARTIAL);
    CHECK(st[0] == MACP_STATUS_OK);
    CHECK(st[1] == MACP_STATUS_FENCED);
    macp_lease again{};
    REQUIRE(s.acquire_lease(y, "node-c/1", 60000, 0, again).ok());
    CHECK(again.granted == 0);  // node-b's lease is untouched by node-a's failed renewal
    CHECK(std::string(again.holder) == "node-b/1");
}

TEST_CASE("leases: one holder at a time, takeover after expiry raises the token", "[contract][lease]") {
    if (!has_leases()) {
        WARN("skipped for " << target().label << ": no session leases");
        return;
    }
    LeaseFixture f;
    Store& s = f.store;
    const std::string x = lease_sid(1);
    macp_lease a{};
    REQUIRE(s.acquire_lease(x, "node-a/1", 100, 0, a).ok());
    CHECK(a.granted == 1);
    CHECK(a.token >= 1);
    CHECK(std::string(a.holder) == "node-a/1");

    macp_lease b{};
    REQUIRE(s.acquire_lease(x, "node-b/1", 60000, 0, b).ok());
    CHECK(b.granted == 0);
    CHECK(b.token == a.token);
    CHECK(std::string(b.holder) == "node-a/1");

    const macp_lease taken = acquire_after_expiry(s, x, "node-b/1");
    CHECK(taken.token > a.token);
    macp_lease lost{};
    const Result renew = s.acquire_lease(x, "node-a/1", 100, a.token, lost);
    INFO("renewal by the old holder -> " << renew.describe());
    CHECK(renew.status == MACP_STATUS_FENCED);
    CHECK(lost.granted == 0);
    CHECK(lost.token == taken.token);
    CHECK(std::string(lost.holder) == "node-b/1");

    // Release by the holder lets the next one in at once.
    REQUIRE(s.release_lease(x, "node-b/1", taken.token).ok());
    macp_lease c{};
    REQUIRE(s.acquire_lease(x, "node-c/1", 60000, 0, c).ok());
    CHECK(c.granted == 1);
    CHECK(c.token > taken.token);
}

TEST_CASE("fencing: a stale token stores nothing, the current one writes", "[contract][lease]") {
    if (!has_leases()) {
        WARN("skipped for " << target().label << ": no session leases");
        return;
    }
    LeaseFixture f;
    Store& s = f.store;
    const std::string x = lease_sid(2);
    const std::string y = lease_sid(3);
    macp_lease a{};
    REQUIRE(s.acquire_lease(x, "node-a/1", 100, 0, a).ok());
    s.set_fencing_token(a.token);
    REQUIRE(s.create_session_storage(x).ok());
    REQUIRE(s.append(x, "a1").ok());
    REQUIRE(s.save_session(x, "snap-a").ok());
    const macp_lease b = acquire_after_expiry(s, x, "node-b/1");

    s.set_fencing_token(a.token);
    CHECK(s.append(x, "a2").status == MACP_STATUS_FENCED);
    CHECK(s.save_session(x, "stale").status == MACP_STATUS_FENCED);
    CHECK(s.delete_session(x).status == MACP_STATUS_FENCED);
    if (s.vt().replace_log != nullptr) CHECK(s.replace_log(x, {"stale"}).status == MACP_STATUS_FENCED);
    if (s.vt().append_log_batch != nullptr) {
        std::vector<macp_status> st;
        s.set_fencing_token(0);
        const Result r = s.append_batch_fenced({{x, "a3", a.token}, {y, "y1", 0}}, st);
        INFO("append_log_batch -> " << r.describe());
        CHECK(r.status == MACP_STATUS_PARTIAL);
        CHECK(st == std::vector<macp_status>{MACP_STATUS_FENCED, MACP_STATUS_OK});
        CHECK(log_of(s, y) == std::vector<std::string>{"y1"});
    }
    CHECK(log_of(s, x) == std::vector<std::string>{"a1"});
    s.set_fencing_token(0);
    const Result snap = s.load_session(x);
    REQUIRE(snap.ok());
    CHECK(snap.items == std::vector<std::string>{"snap-a"});

    s.set_fencing_token(b.token);
    REQUIRE(s.append(x, "b1").ok());
    REQUIRE(s.save_session(x, "snap-b").ok());
    CHECK(log_of(s, x) == std::vector<std::string>{"a1", "b1"});
    s.set_fencing_token(b.token);
    REQUIRE(s.delete_session(x).ok());
    CHECK(log_of(s, x).empty());
}
