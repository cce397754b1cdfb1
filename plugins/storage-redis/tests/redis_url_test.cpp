// MACP_REDIS_URL parsing and the other settings: every accepted form, every refusal, and the
// password never appearing in a message.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "redis_storage.hpp"
#include "redis_url.hpp"

using macp::storage_redis::Endpoint;
using macp::storage_redis::mask_url;
using macp::storage_redis::parse_settings;
using macp::storage_redis::parse_url;

namespace {

// The message of the INVALID_ARGUMENT error parse_url throws for `url`.
std::string refusal(const std::string& url) {
    try {
        (void)parse_url(url);
    } catch (const macp::sdk::Error& e) {
        CHECK(e.status() == MACP_STATUS_INVALID_ARGUMENT);
        return e.what();
    }
    FAIL("accepted: " << url);
    return {};
}

std::string settings_refusal(std::map<std::string, std::string> values) {
    try {
        (void)parse_settings(macp::sdk::Config(std::move(values)));
    } catch (const macp::sdk::Error& e) {
        CHECK(e.status() == MACP_STATUS_INVALID_ARGUMENT);
        return e.what();
    }
    FAIL("settings accepted");
    return {};
}

}  // namespace

TEST_CASE("redis:// URLs: host, port, database, credentials", "[url]") {
    Endpoint e = parse_url("redis://127.0.0.1:6379");
    CHECK(e.kind == Endpoint::Kind::tcp);
    CHECK(e.host == "127.0.0.1");
    CHECK(e.port == 6379);
    CHECK(e.db == 0);
    CHECK_FALSE(e.has_password);
    CHECK(e.display == "redis://127.0.0.1:6379");

    e = parse_url("redis://cache.internal");
    CHECK(e.host == "cache.internal");
    CHECK(e.port == 6379);

    e = parse_url("redis://h:7000/3");
    CHECK(e.port == 7000);
    CHECK(e.db == 3);
    CHECK(parse_url("redis://h/").db == 0);
    CHECK(parse_url("redis://h/15").db == 15);

    e = parse_url("redis://:s3cret@h:6380/1");
    CHECK(e.has_password);
    CHECK(e.user.empty());
    CHECK(e.password == "s3cret");
    CHECK(e.display == "redis://:***@h:6380/1");

    e = parse_url("redis://app:p%40ss%2Fw%3Ard@h");
    CHECK(e.user == "app");
    CHECK(e.password == "p@ss/w:rd");
    CHECK(e.display == "redis://app:***@h");

    e = parse_url("redis://[::1]:6390/2");
    CHECK(e.host == "::1");
    CHECK(e.port == 6390);
    CHECK(e.db == 2);
    CHECK(parse_url("redis://[::1]").port == 6379);
}

TEST_CASE("unix:// URLs: socket path, database, credentials", "[url]") {
    Endpoint e = parse_url("unix:///run/redis/redis.sock");
    CHECK(e.kind == Endpoint::Kind::unix_socket);
    CHECK(e.path == "/run/redis/redis.sock");
    CHECK(e.db == 0);
    e = parse_url("unix:///tmp/r.sock?db=4");
    CHECK(e.path == "/tmp/r.sock");
    CHECK(e.db == 4);
    e = parse_url("unix://:pw@/tmp/r.sock");
    CHECK(e.password == "pw");
    CHECK(e.display == "unix://:***@/tmp/r.sock");
    e = parse_url("unix://me:pw@/tmp/r.sock?db=1");
    CHECK(e.user == "me");
    CHECK(e.db == 1);
}

TEST_CASE("everything else is refused with the reason, the password masked", "[url]") {
    CHECK_THAT(refusal("rediss://h:6379"), Catch::Contains("TLS") && Catch::Contains("not supported"));
    CHECK_THAT(refusal("rediss://:topsecret@h:6379"), !Catch::Contains("topsecret") && Catch::Contains(":***@"));
    CHECK_THAT(refusal("http://h"), Catch::Contains("unsupported scheme 'http://'"));
    CHECK_THAT(refusal("127.0.0.1:6379"), Catch::Contains("not a URL"));
    CHECK_THAT(refusal(""), Catch::Contains("empty"));
    CHECK_THAT(refusal("redis://"), Catch::Contains("no host"));
    CHECK_THAT(refusal("redis://h:"), Catch::Contains("empty port"));
    CHECK_THAT(refusal("redis://h:0"), Catch::Contains("out of range"));
    CHECK_THAT(refusal("redis://h:65536"), Catch::Contains("out of range"));
    CHECK_THAT(refusal("redis://h:63x9"), Catch::Contains("bad port"));
    CHECK_THAT(refusal("redis://h/db1"), Catch::Contains("bad database number"));
    CHECK_THAT(refusal("redis://h/1?timeout=3"), Catch::Contains("database number"));
    CHECK_THAT(refusal("redis://h?db=1"), Catch::Contains("query"));
    CHECK_THAT(refusal("redis://[::1"), Catch::Contains("IPv6"));
    CHECK_THAT(refusal("redis://justapassword@h"), Catch::Contains("need a password"));
    CHECK_THAT(refusal("redis://justapassword@h"), !Catch::Contains("justapassword"));
    CHECK_THAT(refusal("redis://user:@h"), Catch::Contains("empty password"));
    CHECK_THAT(refusal("redis://:bad%zzpw@h"), Catch::Contains("percent-encoding") && !Catch::Contains("bad%zz"));
    CHECK_THAT(refusal("unix://"), Catch::Contains("no socket path"));
    CHECK_THAT(refusal("unix://host/tmp/x.sock"), Catch::Contains("takes no host"));
    CHECK_THAT(refusal("unix:///tmp/x.sock?database=1"), Catch::Contains("only ?db=N"));
    CHECK_THAT(refusal("unix://:hunter2@/tmp/x.sock?db=x"), !Catch::Contains("hunter2"));
}

TEST_CASE("mask_url hides the password of any URL-like string", "[url]") {
    CHECK(mask_url("redis://u:p@h:1/0") == "redis://u:***@h:1/0");
    CHECK(mask_url("redis://:p@h") == "redis://:***@h");
    CHECK(mask_url("redis://onlypw@h") == "redis://***@h");
    CHECK(mask_url("redis://h:1") == "redis://h:1");
    CHECK(mask_url("not a url") == "not a url");
}

TEST_CASE("settings: defaults, numbers, prefix rules", "[url]") {
    const auto s = parse_settings(macp::sdk::Config(std::map<std::string, std::string>{}));
    CHECK(s.endpoint.display == "redis://127.0.0.1:6379");
    CHECK(s.prefix == "macp:");
    CHECK_FALSE(s.require_fsync);
    CHECK(s.wait_replicas == 0);
    CHECK(s.wait_timeout_ms == 1000);

    const auto t = parse_settings(macp::sdk::Config(std::map<std::string, std::string>{
        {"MACP_REDIS_URL", "redis://:inurl@h"},
        {"MACP_REDIS_PASSWORD", "fromkey"},
        {"MACP_REDIS_REQUIRE_FSYNC", "1"},
        {"MACP_REDIS_WAIT_REPLICAS", "2"},
        {"MACP_REDIS_WAIT_TIMEOUT_MS", "250"},
        {"MACP_REDIS_KEY_PREFIX", ""},
    }));
    CHECK(t.endpoint.password == "fromkey");
    CHECK(t.require_fsync);
    CHECK(t.wait_replicas == 2);
    CHECK(t.wait_timeout_ms == 250);
    CHECK(t.prefix.empty());

    CHECK_THAT(settings_refusal({{"MACP_REDIS_KEY_PREFIX", "a{b}:"}}), Catch::Contains("hash tag"));
    CHECK_THAT(settings_refusal({{"MACP_REDIS_REQUIRE_FSYNC", "maybe"}}), Catch::Contains("0 or 1"));
    CHECK_THAT(settings_refusal({{"MACP_REDIS_WAIT_REPLICAS", "-1"}}), Catch::Contains("MACP_REDIS_WAIT_REPLICAS"));
    CHECK_THAT(settings_refusal({{"MACP_REDIS_WAIT_TIMEOUT_MS", "0"}}), Catch::Contains("1..600000"));
    CHECK_THAT(settings_refusal({{"MACP_REDIS_URL", "rediss://h"}}), Catch::Contains("MACP_REDIS_URL"));
}

TEST_CASE("key layout: one hash tag per session, registries under their own prefix", "[url]") {
    using namespace macp::storage_redis;
    const std::string id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    CHECK(snapshot_key("macp:", id) == "macp:s:{" + id + "}:snap");
    CHECK(log_key("macp:", id) == "macp:s:{" + id + "}:log");
    CHECK(sessions_key("p:") == "p:sessions");
    CHECK(records_key("p:", "ext.a/b c") == "p:r:ext.a/b c");
    CHECK(epoch_key("p:") == "p:meta:epoch");
    CHECK(counter_key("p:") == "p:meta:writes");
}
