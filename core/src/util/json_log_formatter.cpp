#include "util/json_log_formatter.hpp"

#include <time.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "util/log_context.hpp"
#include "util/utf8.hpp"

namespace macp::util {

namespace {

void put_string(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
    if (valid_utf8(s)) {
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    } else {
        const auto clean = to_valid_utf8(s);
        w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
    }
}

std::string utc_time(std::chrono::system_clock::time_point t) {
    const auto secs = std::chrono::system_clock::to_time_t(t);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];  // room for any int the compiler cannot bound
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms < 0 ? ms + 1000 : ms));
    return buf;
}

}  // namespace

const char* level_name(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace: return "trace";
        case spdlog::level::debug: return "debug";
        case spdlog::level::info: return "info";
        case spdlog::level::warn: return "warn";
        case spdlog::level::err: return "error";
        case spdlog::level::critical: return "critical";
        default: return "off";
    }
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("time");
    put_string(w, utc_time(msg.time));
    w.Key("level");
    w.String(level_name(msg.level));
    w.Key("target");
    put_string(w, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    w.Key("message");
    put_string(w, std::string_view(msg.payload.data(), msg.payload.size()));
    // A name appears once: the fixed fields first, then the innermost context's value.
    std::set<std::string, std::less<>> written = {"time", "level", "target", "message"};
    LogContext::for_each([&](const std::string& name, const std::string& value) {
        if (!written.insert(name).second) return;
        put_string(w, name);
        put_string(w, value);
    });
    w.EndObject();
    dest.append(buffer.GetString(), buffer.GetString() + buffer.GetSize());
    dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
    return std::make_unique<JsonLogFormatter>();
}

}  // namespace macp::util
