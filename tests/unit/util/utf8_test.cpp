// util::valid_utf8 (issue #15, MODE-MR-3): strict RFC 3629.
#include <string>

#include <catch2/catch.hpp>

#include "util/utf8.hpp"

using macp::util::valid_utf8;

TEST_CASE("valid UTF-8 passes", "[util][utf8]") {
    CHECK(valid_utf8(""));
    CHECK(valid_utf8("plain ascii"));
    CHECK(valid_utf8("caf\xC3\xA9"));           // U+00E9
    CHECK(valid_utf8("\xE2\x82\xAC"));          // U+20AC
    CHECK(valid_utf8("\xF0\x9F\x98\x80"));      // U+1F600
    CHECK(valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
    CHECK(valid_utf8(std::string("a\0b", 3)));  // NUL is a character
}

TEST_CASE("malformed UTF-8 fails", "[util][utf8]") {
    CHECK_FALSE(valid_utf8("\x80"));              // continuation byte first
    CHECK_FALSE(valid_utf8("\xC3"));              // truncated
    CHECK_FALSE(valid_utf8("\xC3\x28"));          // bad continuation
    CHECK_FALSE(valid_utf8("\xC0\xAF"));          // overlong "/"
    CHECK_FALSE(valid_utf8("\xE0\x80\xAF"));      // overlong, three bytes
    CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // UTF-16 surrogate U+D800
    CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(valid_utf8("\xF5\x80\x80\x80"));  // never a lead byte
    CHECK_FALSE(valid_utf8("\xF0\x9F\x98"));      // truncated four-byte sequence
}
