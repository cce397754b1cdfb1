// The JSON log line (util/json_log_formatter.hpp, issue #14): valid JSON for any content, context
// fields included.
#include <catch2/catch.hpp>

#include <string>

#include <rapidjson/document.h>
#include <spdlog/details/log_msg.h>

#include "util/json_log_formatter.hpp"
#include "util/log_context.hpp"

using macp::util::JsonLogFormatter;
using macp::util::LogContext;

namespace {

rapidjson::Document format(const std::string& logger, const std::string& text) {
    spdlog::details::log_msg msg(spdlog::string_view_t(logger.data(), logger.size()), spdlog::level::warn,
                                 spdlog::string_view_t(text.data(), text.size()));
    JsonLogFormatter f;
    spdlog::memory_buf_t out;
    f.format(msg, out);
    const std::string line(out.data(), out.size());
    REQUIRE(line.back() == '\n');
    REQUIRE(line.find('\n') == line.size() - 1);  // one line, whatever the message held
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str(), line.size());
    REQUIRE_FALSE(doc.HasParseError());
    return doc;
}

}  // namespace

TEST_CASE("quotes, backslashes, newlines, control bytes and invalid UTF-8 still give one valid object") {
    const std::string nasty = std::string("a\"b\\c\nd\te\x01") + "\xff\xc3(" + "\xe2\x82\xac";
    auto doc = format("macp_runtime", nasty);
    CHECK(std::string(doc["level"].GetString()) == "warn");
    CHECK(std::string(doc["target"].GetString()) == "macp_runtime");
    const std::string message(doc["message"].GetString(), doc["message"].GetStringLength());
    CHECK(message.find("a\"b\\c\nd\te\x01") == 0);
    CHECK(message.find("\xe2\x82\xac") != std::string::npos);  // valid UTF-8 kept as is
    CHECK(message.find("\xef\xbf\xbd") != std::string::npos);  // invalid bytes replaced
    const std::string time = doc["time"].GetString();
    CHECK(time.size() == 24);
    CHECK(time.back() == 'Z');
}

TEST_CASE("context fields become fields of the line; inner ones win") {
    const LogContext outer{{"session_id", "s-1"}, {"sender", "alice"}};
    {
        const LogContext inner{{"session_id", "s-2"}, {"code", "RATE_LIMITED"}, {"message", "ignored"}};
        auto doc = format("macp_runtime::request", "x");
        CHECK(std::string(doc["session_id"].GetString()) == "s-2");
        CHECK(std::string(doc["sender"].GetString()) == "alice");
        CHECK(std::string(doc["code"].GetString()) == "RATE_LIMITED");
        CHECK(std::string(doc["message"].GetString()) == "x");
    }
    auto doc = format("macp_runtime", "y");
    CHECK(std::string(doc["session_id"].GetString()) == "s-1");
    CHECK_FALSE(doc.HasMember("code"));
}
