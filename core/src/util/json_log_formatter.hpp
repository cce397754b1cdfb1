// MACP_LOG_FORMAT=json (issue #14): one JSON object per line, written with RapidJSON's writer so
// that any message, target or field value (a data directory holding a quote, a client's bytes
// that are not UTF-8) still makes exactly one valid line. Fields: time (UTC, RFC 3339 with
// milliseconds), level, target (the logger's name), message, then the LogContext fields in effect
// on the logging thread (session_id, sender, code, ...).
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace macp::util {

class JsonLogFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

// The name a level is written with: trace, debug, info, warn, error, critical, off.
const char* level_name(spdlog::level::level_enum level);

}  // namespace macp::util
