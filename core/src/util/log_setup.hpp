// The process's loggers (issue #14). Each logger is a target a RUST_LOG directive can name:
//   macp_runtime           everything not listed below
//   macp_runtime::request  one debug line per RPC (service/request_log.hpp)
//   macp_runtime::storage  storage health, failed writes, group commit
// A directive names a target exactly, a parent of it (macp_runtime covers the two below it), or
// its last segment (storage = macp_runtime::storage); the most specific directive wins, a bare
// level applies to every target no directive names.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "util/result.hpp"

namespace macp::util {

inline constexpr const char* kCoreTarget = "macp_runtime";
inline constexpr const char* kRequestTarget = "macp_runtime::request";
inline constexpr const char* kStorageTarget = "macp_runtime::storage";

struct LogFilter {
    spdlog::level::level_enum fallback = spdlog::level::info;
    std::vector<std::pair<std::string, spdlog::level::level_enum>> targets;  // as written

    [[nodiscard]] spdlog::level::level_enum level_for(std::string_view target) const;
};

// Parses a RUST_LOG filter ("info", "macp_runtime=debug,storage=info", "warn,macp_runtime::request=debug").
// `fallback` is the level of targets no directive names when the filter has no bare level.
Result<LogFilter, std::string> parse_log_filter(std::string_view text, spdlog::level::level_enum fallback);

// Creates every target's logger on one stderr sink (JSON lines or text) and makes macp_runtime the
// default logger. Call once, before other threads log.
void configure_logging(const LogFilter& filter, bool json);

// The logger of `target`; the default logger when it was not configured (unit tests).
spdlog::logger& log_target(const char* target);

}  // namespace macp::util
