#include "util/json.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

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

// The document's SAX handler, with numbers arriving as text (kParseNumbersAsStringsFlag) and read
// here with std::from_chars: exact (correctly rounded) and locale-free. RapidJSON 1.1.0's own
// full-precision strtod, the only other exact reader it has, reads outside a table for numbers far
// below DBL_MIN (CVE-2024-38517): a 15-digit mantissa times 1e-340 was an ASan SEGV found by fuzz
// target ext_mode_descriptor (issue #15). Integers get the event RapidJSON would have sent, so the
// values' types are unchanged; a number beyond the double range is an error, as it was.
class ExactNumbers {
public:
    explicit ExactNumbers(rapidjson::Document& doc) : doc_(doc) {}

    bool Null() { return doc_.Null(); }
    bool Bool(bool b) { return doc_.Bool(b); }
    bool Int(int i) { return doc_.Int(i); }
    bool Uint(unsigned u) { return doc_.Uint(u); }
    bool Int64(int64_t i) { return doc_.Int64(i); }
    bool Uint64(uint64_t u) { return doc_.Uint64(u); }
    bool Double(double d) { return doc_.Double(d); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
    bool StartObject() { return doc_.StartObject(); }
    bool EndObject(rapidjson::SizeType n) { return doc_.EndObject(n); }
    bool StartArray() { return doc_.StartArray(); }
    bool EndArray(rapidjson::SizeType n) { return doc_.EndArray(n); }

    bool RawNumber(const char* s, rapidjson::SizeType n, bool /*copy*/) {
        const char* end = s + n;
        const bool integral = std::string_view(s, n).find_first_of(".eE") == std::string_view::npos;
        if (integral) {
            if (*s == '-') {
                int64_t v = 0;
                if (std::from_chars(s, end, v).ec == std::errc()) {
                    return v >= std::numeric_limits<int32_t>::min() ? doc_.Int(static_cast<int>(v)) : doc_.Int64(v);
                }
            } else {
                uint64_t v = 0;
                if (std::from_chars(s, end, v).ec == std::errc()) {
                    return v <= std::numeric_limits<uint32_t>::max() ? doc_.Uint(static_cast<unsigned>(v))
                                                                     : doc_.Uint64(v);
                }
            }
            // Beyond 64 bits: a double, as RapidJSON reads it.
        }
        double d = 0;
        const auto r = std::from_chars(s, end, d);
        if (r.ptr != end) return false;
        // ERANGE: from_chars leaves d untouched on overflow and underflow alike. Underflow reads
        // as zero (a value below the smallest subnormal); overflow is the error it always was.
        if (r.ec == std::errc::result_out_of_range) {
            if (!tiny(s, n)) return false;
            d = *s == '-' ? -0.0 : 0.0;
        } else if (r.ec != std::errc()) {
            return false;
        }
        return doc_.Double(d);
    }

private:
    // from_chars reports overflow and underflow alike; strtod (the "C" locale: the runtime never
    // sets another) tells them apart by its result.
    static bool tiny(const char* s, rapidjson::SizeType n) {
        const std::string copy(s, n);
        return std::fabs(std::strtod(copy.c_str(), nullptr)) != HUGE_VAL;
    }

    rapidjson::Document& doc_;
};

// Document::Populate's generator: the iterative reader with numbers as text.
struct ExactParse {
    std::string_view text;
    rapidjson::ParseResult result{};

    bool operator()(rapidjson::Document& doc) {
        constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
        rapidjson::MemoryStream stream(text.data(), text.size());
        rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> input(stream);
        rapidjson::Reader reader;
        ExactNumbers handler(doc);
        result = reader.Parse<kFlags>(input, handler);
        return !result.IsError();
    }
};

}  // namespace

rapidjson::ParseResult parse_numbers_exactly(std::string_view text, rapidjson::Document& doc) {
    ExactParse parse{text};
    doc.Populate(parse);
    if (parse.result.IsError()) doc.SetNull();
    return parse.result;
}

bool parse_json_untrusted(std::string_view text, rapidjson::Document& doc) {
    if (text.size() > kMaxJsonBytes || max_depth(text, kMaxJsonDepth) > kMaxJsonDepth) return false;
    return !parse_numbers_exactly(text, doc).IsError();
}

bool parse_json_stored(std::string_view text, rapidjson::Document& doc) {
    if (max_depth(text, kMaxStoredJsonDepth) > kMaxStoredJsonDepth) return false;
    return !parse_numbers_exactly(text, doc).IsError();
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
