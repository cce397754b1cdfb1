#include "policy/rule_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace macp::policy::rule_reader {

using rapidjson::Value;

std::map<std::string, const Value*> members_in_key_order(const Value& obj) {
    std::map<std::string, const Value*> out;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        out[std::string(it->name.GetString(), it->name.GetStringLength())] = &it->value;
    }
    return out;
}

std::string f64_digits(double v) {
    if (std::isnan(v)) return "NaN";
    // Fixed notation without a precision gives the shortest round-trip digits; 400 bytes hold any
    // finite double written out in full (the longest, near 1e-308, take about 330).
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
    if (r.ec != std::errc()) return "NaN";
    return {buf, r.ptr};
}

std::string rust_debug_str(std::string_view s, NulEscape nul) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c == '\0' && nul == NulEscape::Backslash0) {
                    out += "\\0";
                } else if (c < 0x20 || c == 0x7f) {
                    char esc[12];
                    std::snprintf(esc, sizeof(esc), "\\u{%x}", static_cast<unsigned>(c));
                    out += esc;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

std::string unexpected(const Value& v, NulEscape nul) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return v.GetBool() ? "boolean `true`" : "boolean `false`";
    // Integers first: RapidJSON reports a non-negative integer as both Uint64 and Int64.
    if (v.IsUint64()) return "integer `" + std::to_string(v.GetUint64()) + "`";
    if (v.IsInt64()) return "integer `" + std::to_string(v.GetInt64()) + "`";
    if (v.IsNumber()) {
        auto s = f64_digits(v.GetDouble());
        if (s.find('.') == std::string::npos) s += ".0";  // serde shows a float as a float: `2.0`
        return "floating point `" + s + "`";
    }
    if (v.IsString()) return "string " + rust_debug_str({v.GetString(), v.GetStringLength()}, nul);
    if (v.IsArray()) return "sequence";
    return "map";
}

std::string invalid_type(const Value& v, const char* expected, NulEscape nul) {
    return "invalid type: " + unexpected(v, nul) + ", expected " + expected;
}

std::string invalid_value(const Value& v, const char* expected, NulEscape nul) {
    return "invalid value: " + unexpected(v, nul) + ", expected " + expected;
}

std::string check_string(const Value& v, NulEscape nul) {
    return v.IsString() ? std::string() : invalid_type(v, "a string", nul);
}

std::string check_bool(const Value& v, NulEscape nul) {
    return v.IsBool() ? std::string() : invalid_type(v, "a boolean", nul);
}

std::string check_f64(const Value& v, NulEscape nul) {
    // serde_json hands integers to an f64 field as well, so any JSON number is accepted.
    return v.IsNumber() ? std::string() : invalid_type(v, "f64", nul);
}

std::string check_unsigned(const Value& v, const char* rust_type, NulEscape nul) {
    if (v.IsUint64()) return {};
    if (v.IsInt64()) return invalid_value(v, rust_type, nul);  // a negative integer
    return invalid_type(v, rust_type, nul);
}

std::string check_commitment_group(const Value& v, NulEscape nul) {
    if (!v.IsObject()) return invalid_type(v, "struct CommitmentRules", nul);
    for (const auto& [key, val] : members_in_key_order(v)) {
        std::string err;
        if (key == "allow_decline_over_approval" || key == "require_vote_quorum") {
            err = check_bool(*val, nul);
        } else if (key == "authority") {
            err = check_string(*val, nul);
        } else if (key == "designated_roles") {
            if (!val->IsArray()) return invalid_type(*val, "a sequence", nul);
            for (const auto& role : val->GetArray()) {
                err = check_string(role, nul);
                if (!err.empty()) return err;
            }
        }
        if (!err.empty()) return err;
    }
    return {};
}

}  // namespace macp::policy::rule_reader
