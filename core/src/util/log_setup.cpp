#include "util/log_setup.hpp"

#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "util/json_log_formatter.hpp"

namespace macp::util {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool parse_level(std::string_view text, spdlog::level::level_enum& out) {
    std::string lower(text);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const std::pair<const char*, spdlog::level::level_enum> kLevels[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"off", spdlog::level::off}};
    for (const auto& [name, level] : kLevels) {
        if (lower == name) {
            out = level;
            return true;
        }
    }
    return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// How specifically `directive` names `target`: 0 not at all, else higher is more specific. Naming
// the target itself beats naming it by its last segment, which beats naming a parent; among
// parents the deeper one wins.
size_t match(std::string_view directive, std::string_view target) {
    constexpr size_t kTier = 1 << 16;
    if (directive == target) return 3 * kTier;
    if (ends_with(target, "::" + std::string(directive))) return 2 * kTier;
    const std::string parent = std::string(directive) + "::";
    if (target.substr(0, parent.size()) == parent) return kTier + directive.size();
    return 0;
}

}  // namespace

spdlog::level::level_enum LogFilter::level_for(std::string_view target) const {
    size_t best = 0;
    auto level = fallback;
    for (const auto& [name, l] : targets) {
        const auto m = match(name, target);
        if (m > best) {
            best = m;
            level = l;
        }
    }
    return level;
}

Result<LogFilter, std::string> parse_log_filter(std::string_view text, spdlog::level::level_enum fallback) {
    LogFilter filter;
    filter.fallback = fallback;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const auto directive = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (directive.empty()) continue;
        const auto eq = directive.rfind('=');
        spdlog::level::level_enum level{};
        if (!parse_level(eq == std::string_view::npos ? directive : trim(directive.substr(eq + 1)), level)) {
            return fail("'" + std::string(directive) + "' is not a log directive (target=level or level)");
        }
        if (eq == std::string_view::npos) {
            filter.fallback = level;  // the last bare level wins, as before
        } else {
            filter.targets.emplace_back(std::string(trim(directive.substr(0, eq))), level);
        }
    }
    return filter;
}

void configure_logging(const LogFilter& filter, bool json) {
    spdlog::sink_ptr sink;
    if (json) {
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        sink->set_formatter(std::make_unique<JsonLogFormatter>());
    } else {
        sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v",
                                                                        spdlog::pattern_time_type::utc));
    }
    for (const char* target : {kCoreTarget, kRequestTarget, kStorageTarget}) {
        spdlog::drop(target);
        auto logger = std::make_shared<spdlog::logger>(target, sink);
        logger->set_level(filter.level_for(target));
        spdlog::register_logger(logger);
        if (std::string_view(target) == kCoreTarget) spdlog::set_default_logger(logger);
    }
}

spdlog::logger& log_target(const char* target) {
    const auto logger = spdlog::get(target);
    return logger ? *logger : *spdlog::default_logger_raw();
}

}  // namespace macp::util
