// util/json: numbers Debian's RapidJSON cannot read at full precision safely (CVE-2024-38517, found
// by fuzz target ext_mode_descriptor, issue #15) are read at normal precision; every other number
// keeps full precision. Under ASan (make fuzz's build) the unsafe path would be reported here.
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
