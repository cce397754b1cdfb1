#include "util/json.hpp"

#include <array>

#include <algorithm>
#include <vector>

namespace macp::util {

namespace {

// Rejects nesting deeper than the limit before the DOM is built.
int max_depth(std::string_view text, int limit) {
    int depth = 0;
    int deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) return deepest;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// True when a number literal (outside strings) lies far below DBL_MIN or is very long. Debian's
// RapidJSON 1.1.0 reads outside a table in its full-precision strtod for such numbers
// (CVE-2024-38517; e.g. a 15-digit mantissa times 1e-340, or "0." and 330 zeros before the
// digits), which fuzz target ext_mode_descriptor found as a crash (issue #15). Its normal-precision
// path is safe and rounds them to zero or the nearest subnormal, as exactness needs nothing more.
bool has_tiny_or_long_number(std::string_view text) {
    constexpr long kLowestSafeExponent = -290;  // the first crashes are near -325
    constexpr size_t kLongLiteral = 600;
    bool in_string = false;
    bool escaped = false;
    size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            ++i;
            continue;
        }
        if (c == '"') {
            in_string = true;
            ++i;
            continue;
        }
        if (c != '-' && !is_digit(c)) {
            ++i;
            continue;
        }
        const size_t start = i;
        if (c == '-') ++i;
        bool nonzero = false;
        long magnitude = 0;  // decimal exponent of the first non-zero digit
        long int_digits = 0;
        while (i < text.size() && is_digit(text[i])) {
            if (nonzero) {
                ++magnitude;
            } else if (text[i] != '0') {
                nonzero = true;
            }
            ++int_digits;
            ++i;
        }
        if (i < text.size() && text[i] == '.') {
            ++i;
            long zeros = 0;
            while (i < text.size() && is_digit(text[i])) {
                if (!nonzero) {
                    if (text[i] == '0') {
                        ++zeros;
                    } else {
                        nonzero = true;
                        magnitude = -(zeros + 1);
                    }
                }
                ++i;
            }
        }
        long exponent = 0;
        if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
            ++i;
            bool negative = false;
            if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
            while (i < text.size() && is_digit(text[i])) {
                if (exponent < 1'000'000) exponent = exponent * 10 + (text[i] - '0');
                ++i;
            }
            if (negative) exponent = -exponent;
        }
        if (nonzero && magnitude + exponent < kLowestSafeExponent) return true;
        if (i - start > kLongLiteral) return true;
        if (i == start) ++i;  // a lone '-': not a number, move on
    }
    return false;
}

}  // namespace

void parse_numbers_exactly(std::string_view text, rapidjson::Document& doc) {
    if (has_tiny_or_long_number(text)) {
        doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
    } else {
        doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
    }
}

bool parse_json_untrusted(std::string_view text, rapidjson::Document& doc) {
    if (text.size() > kMaxJsonBytes || max_depth(text, kMaxJsonDepth) > kMaxJsonDepth) return false;
    parse_numbers_exactly(text, doc);
    return !doc.HasParseError();
}

bool parse_json_stored(std::string_view text, rapidjson::Document& doc) {
    if (max_depth(text, kMaxStoredJsonDepth) > kMaxStoredJsonDepth) return false;
    parse_numbers_exactly(text, doc);
    return !doc.HasParseError();
}

std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return {buf.GetString(), buf.GetSize()};
}

namespace {
void write_canonical(const rapidjson::Value& v, rapidjson::Writer<rapidjson::StringBuffer>& w) {
    if (v.IsObject()) {
        std::vector<const rapidjson::Value::Member*> members;
        for (const auto& m : v.GetObject()) members.push_back(&m);
        auto key = [](const auto* m) { return std::string_view(m->name.GetString(), m->name.GetStringLength()); };
        std::stable_sort(members.begin(), members.end(), [&](const auto* a, const auto* b) { return key(a) < key(b); });
        w.StartObject();
        for (size_t i = 0; i < members.size(); ++i) {
            const auto* m = members[i];
            // A repeated key keeps its last occurrence, as JSON readers conventionally do.
            if (i + 1 < members.size() && key(members[i + 1]) == key(m)) continue;
            w.Key(m->name.GetString(), m->name.GetStringLength());
            write_canonical(m->value, w);
        }
        w.EndObject();
    } else if (v.IsArray()) {
        w.StartArray();
        for (const auto& x : v.GetArray()) write_canonical(x, w);
        w.EndArray();
    } else {
        v.Accept(w);
    }
}
}  // namespace

std::string to_canonical_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    write_canonical(v, w);
    return {buf.GetString(), buf.GetSize()};
}

namespace {
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                     uint32_t(uint8_t(bytes[i + 2]));
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += kB64[(n >> 6) & 63];
        out += kB64[n & 63];
    }
    if (i + 1 == bytes.size()) {
        uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += kB64[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

bool base64_decode(std::string_view text, std::string& out) {
    std::array<int, 256> map{};
    map.fill(-1);
    for (size_t i = 0; i < kB64.size(); ++i) map[uint8_t(kB64[i])] = int(i);
    if (text.size() % 4 != 0) return false;
    out.clear();
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            char c = text[i + k];
            if (c == '=' && i + 4 == text.size() && k >= 2) {
                v[k] = 0;
                ++pad;
            } else {
                if (pad > 0) return false;
                v[k] = map[uint8_t(c)];
                if (v[k] < 0) return false;
            }
        }
        uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
        out += char((n >> 16) & 0xff);
        if (pad < 2) out += char((n >> 8) & 0xff);
        if (pad < 1) out += char(n & 0xff);
    }
    return true;
}

std::string get_string(const rapidjson::Value& obj, const char* key, std::string fallback) {
    if (!obj.IsObject()) return fallback;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return fallback;
    return {it->value.GetString(), it->value.GetStringLength()};
}

int64_t get_int(const rapidjson::Value& obj, const char* key, int64_t fallback) {
    if (!obj.IsObject()) return fallback;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsInt64()) return fallback;
    return it->value.GetInt64();
}

bool get_bool(const rapidjson::Value& obj, const char* key, bool fallback) {
    if (!obj.IsObject()) return fallback;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsBool()) return fallback;
    return it->value.GetBool();
}

}  // namespace macp::util
