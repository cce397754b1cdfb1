// RUST_LOG directives over the runtime's log targets (util/log_setup.hpp, issue #14).
#include <catch2/catch.hpp>

#include "util/log_setup.hpp"

using namespace macp::util;
namespace lvl = spdlog::level;

TEST_CASE("a bare level applies everywhere") {
    auto f = parse_log_filter("warn", lvl::info);
    REQUIRE(f);
    CHECK(f->level_for(kCoreTarget) == lvl::warn);
    CHECK(f->level_for(kRequestTarget) == lvl::warn);
    CHECK(f->level_for(kStorageTarget) == lvl::warn);
}

TEST_CASE("a target covers its children; a last segment names its target; the most specific wins") {
    auto f = parse_log_filter("macp_runtime=debug,storage=info", lvl::info);
    REQUIRE(f);
    CHECK(f->level_for(kCoreTarget) == lvl::debug);
    CHECK(f->level_for(kRequestTarget) == lvl::debug);  // child of macp_runtime
    CHECK(f->level_for(kStorageTarget) == lvl::info);   // "storage" is its last segment, more specific

    auto g = parse_log_filter("error, macp_runtime::request = debug ,", lvl::info);
    REQUIRE(g);
    CHECK(g->level_for(kCoreTarget) == lvl::err);
    CHECK(g->level_for(kRequestTarget) == lvl::debug);
    CHECK(g->level_for(kStorageTarget) == lvl::err);
}

TEST_CASE("without a bare level, unnamed targets get the fallback; nonsense is refused") {
    auto f = parse_log_filter("request=trace", lvl::warn);
    REQUIRE(f);
    CHECK(f->level_for(kCoreTarget) == lvl::warn);
    CHECK(f->level_for(kRequestTarget) == lvl::trace);
    CHECK_FALSE(parse_log_filter("macp_runtime=loud", lvl::info));
    CHECK(parse_log_filter("OFF", lvl::info)->level_for(kCoreTarget) == lvl::off);
}
