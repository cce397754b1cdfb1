#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>

namespace macp::metrics {

namespace {

void escaped(std::string& out, std::string_view text, bool quote_too) {
    for (char c : text) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '"':
                if (quote_too) {
                    out += "\\\"";
                    break;
                }
                [[fallthrough]];
            default: out += c;
        }
    }
}

}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    escaped(out_, help, false);  // HELP text escapes only backslash and newline
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void Exposition::series(std::string_view name, std::string_view suffix, Labels labels, const Label* extra) {
    out_ += name;
    out_ += suffix;
    if (labels.size() == 0 && extra == nullptr) {
        out_ += ' ';
        return;
    }
    out_ += '{';
    bool first = true;
    const auto one = [&](const Label& l) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.first;
        out_ += "=\"";
        escaped(out_, l.second, true);
        out_ += '"';
    };
    for (const auto& l : labels) one(l);
    if (extra != nullptr) one(*extra);
    out_ += "} ";
}

void Exposition::number(double v) {
    if (std::isnan(v)) {
        out_ += "NaN";
    } else if (std::isinf(v)) {
        out_ += v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
        out_.append(buf, r.ptr);
    }
}

void Exposition::sample(std::string_view name, Labels labels, uint64_t value) {
    series(name, "", labels, nullptr);
    out_ += std::to_string(value);
    out_ += '\n';
}

void Exposition::sample(std::string_view name, Labels labels, int64_t value) {
    series(name, "", labels, nullptr);
    out_ += std::to_string(value);
    out_ += '\n';
}

void Exposition::sample(std::string_view name, Labels labels, double value) {
    series(name, "", labels, nullptr);
    number(value);
    out_ += '\n';
}

void Exposition::histogram(std::string_view name, Labels labels, const Histogram& h, double unit) {
    const auto snap = h.snapshot();
    const auto& bounds = h.bounds();
    for (size_t i = 0; i <= bounds.size(); ++i) {
        std::string le;
        if (i == bounds.size()) {
            le = "+Inf";
        } else {
            char buf[32];
            const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<double>(bounds[i]) / unit);
            le.assign(buf, r.ptr);
        }
        const Label extra{"le", le};
        series(name, "_bucket", labels, &extra);
        out_ += std::to_string(snap.cumulative[i]);
        out_ += '\n';
    }
    series(name, "_sum", labels, nullptr);
    number(static_cast<double>(snap.sum) / unit);
    out_ += '\n';
    series(name, "_count", labels, nullptr);
    out_ += std::to_string(snap.cumulative.back());
    out_ += '\n';
}

}  // namespace macp::metrics
