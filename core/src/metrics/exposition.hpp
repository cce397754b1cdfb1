// Writes the Prometheus text exposition format (version 0.0.4): for each metric family one
// `# HELP` and one `# TYPE` line, then its samples. Label values are escaped here, so any text
// (a mode name a client registered, say) yields a valid line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/instruments.hpp"

namespace macp::metrics {

using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::initializer_list<Label>;

class Exposition {
public:
    // The content type scrapers expect for this format.
    static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

    // Starts a family; `type` is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, Labels labels, uint64_t value);
    void sample(std::string_view name, Labels labels, int64_t value);
    void sample(std::string_view name, Labels labels, double value);
    // The _bucket/_sum/_count samples of one histogram series; recorded values are divided by
    // `unit` (1e9 turns nanoseconds into seconds, 1 keeps counts).
    void histogram(std::string_view name, Labels labels, const Histogram& h, double unit);

    [[nodiscard]] const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void series(std::string_view name, std::string_view suffix, Labels labels, const Label* extra);
    void number(double v);

    std::string out_;
};

}  // namespace macp::metrics
