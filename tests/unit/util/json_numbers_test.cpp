// util/json: every number is read exactly by std::from_chars, never by Debian's RapidJSON strtod,
// whose full-precision path reads outside a table for numbers far below DBL_MIN (CVE-2024-38517,
// found by fuzz target ext_mode_descriptor, issue #15). Under ASan (make fuzz's build) that read
// was reported; here the values and the types RapidJSON would give are checked.
#include <catch2/catch.hpp>

#include <string>

#include "util/json.hpp"

namespace {

double parsed(const std::string& text) {
    rapidjson::Document doc;
    REQUIRE(macp::util::parse_json_untrusted(text, doc));
    REQUIRE(doc.IsArray());
    REQUIRE(doc[0].IsNumber());
    return doc[0].GetDouble();
}

}  // namespace

TEST_CASE("numbers far below DBL_MIN parse, and as (almost) zero", "[json]") {
    const std::string zeros(340, '0');
    const std::string digits(300, '4');
    for (const std::string& text : {std::string("[1.0444444444444444e-340]"), "[0." + zeros + "4444444444444444]",
                                    "[1.0" + digits + "e-611]", std::string("[-7.25e-400]")}) {
        INFO(text.substr(0, 60));
        CHECK(parsed(text) < 1e-300);
        CHECK(parsed(text) > -1e-300);
    }
}

TEST_CASE("a tiny number next to ordinary ones leaves them exact", "[json]") {
    rapidjson::Document doc;
    REQUIRE(macp::util::parse_json_untrusted("[0.30000000000000007, 5e-324, 1.0444444444444444e-340]", doc));
    CHECK(doc[0].GetDouble() == 0.30000000000000007);
    CHECK(doc[1].GetDouble() == 5e-324);
    CHECK(doc[2].GetDouble() == 0.0);
}

TEST_CASE("integers keep RapidJSON's types; out-of-range and malformed numbers are errors", "[json]") {
    rapidjson::Document doc;
    REQUIRE(macp::util::parse_json_untrusted("[1, -1, 4294967296, -2147483649, 18446744073709551615, 1e2, -0]", doc));
    CHECK(doc[0].IsUint());
    CHECK(doc[0].IsInt());
    CHECK(doc[1].IsInt());
    CHECK_FALSE(doc[1].IsUint());
    CHECK(doc[2].IsUint64());
    CHECK_FALSE(doc[2].IsUint());
    CHECK(doc[3].IsInt64());
    CHECK(doc[3].GetInt64() == -2147483649LL);
    CHECK(doc[4].GetUint64() == 18446744073709551615ULL);
    CHECK(doc[5].IsDouble());
    CHECK(doc[5].GetDouble() == 100.0);
    CHECK(doc[6].IsInt());
    REQUIRE(macp::util::parse_json_untrusted("[18446744073709551616]", doc));
    CHECK(doc[0].IsDouble());
    CHECK_FALSE(macp::util::parse_json_untrusted("[1e400]", doc));
    CHECK_FALSE(macp::util::parse_json_untrusted("[-1e400]", doc));
    CHECK_FALSE(macp::util::parse_json_untrusted("[01]", doc));
    CHECK_FALSE(macp::util::parse_json_untrusted("[1.]", doc));
}

TEST_CASE("ordinary numbers keep full precision", "[json]") {
    CHECK(parsed("[0.1]") == 0.1);
    CHECK(parsed("[0.3]") == 0.3);
    CHECK(parsed("[2.2250738585072014e-308]") == 2.2250738585072014e-308);  // DBL_MIN: still exact
    CHECK(parsed("[1.7976931348623157e308]") == 1.7976931348623157e308);
    CHECK(parsed("[123456789012345678]") == 123456789012345678.0);
    // Digits inside strings are not numbers.
    rapidjson::Document doc;
    REQUIRE(macp::util::parse_json_untrusted(R"({"k":"1.0444444444444444e-340","v":0.7})", doc));
    CHECK(doc["v"].GetDouble() == 0.7);
}
