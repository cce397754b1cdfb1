// util::echo / bounded_message: client input quoted back in errors stays small (issue #15).
#include <string>

#include <catch2/catch.hpp>

#include "util/echo.hpp"

using macp::util::bounded_message;
using macp::util::echo;

TEST_CASE("echo keeps short input as it is", "[util][echo]") {
    CHECK(echo("") == "");
    CHECK(echo("session-1") == "session-1");
    CHECK(echo(std::string(128, 'a')) == std::string(128, 'a'));
}

TEST_CASE("echo cuts long input and says how long it was", "[util][echo]") {
    const std::string big(1 << 20, 'x');
    const auto out = echo(big);
    CHECK(out == std::string(128, 'x') + "... (1048576 bytes)");
    CHECK(echo("abcdef", 3) == "abc... (6 bytes)");
}

TEST_CASE("echo never splits a UTF-8 character", "[util][echo]") {
    // "é" is two bytes (C3 A9): a cut after 3 bytes of "aéé" would land inside the second one.
    const std::string s = "a\xC3\xA9\xC3\xA9";
    CHECK(echo(s, 4) == "a\xC3\xA9... (5 bytes)");
    CHECK(echo(s, 2) == "a... (5 bytes)");
    // A four-byte character (U+1F600) cut anywhere inside goes whole.
    const std::string emoji = "\xF0\x9F\x98\x80\xF0\x9F\x98\x80";
    CHECK(echo(emoji, 6) == "\xF0\x9F\x98\x80... (8 bytes)");
}

TEST_CASE("bounded_message caps a whole status message", "[util][echo]") {
    CHECK(bounded_message("Session 'x' not found") == "Session 'x' not found");
    const auto out = bounded_message(std::string(5000, 'm'));
    CHECK(out.size() < 1100);
    CHECK(out.rfind("... (5000 bytes)") == out.size() - std::string("... (5000 bytes)").size());
}
