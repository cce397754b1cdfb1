#include "codec.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace macp::auth_jwt {
namespace {

constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0..63 for a character of the alphabet, -1 otherwise.
struct DecodeTable {
    std::array<int8_t, 256> url{};
    std::array<int8_t, 256> standard{};
    DecodeTable() {
        url.fill(-1);
        standard.fill(-1);
        for (int i = 0; i < 64; ++i) {
            url[static_cast<unsigned char>(kUrlAlphabet[i])] = static_cast<int8_t>(i);
            standard[static_cast<unsigned char>(kUrlAlphabet[i])] = static_cast<int8_t>(i);
        }
        standard['-'] = -1;
        standard['_'] = -1;
        standard['+'] = 62;
        standard['/'] = 63;
    }
};

const DecodeTable& table() {
    static const DecodeTable t;  // immutable after its (thread-safe) construction
    return t;
}

std::optional<std::string> decode(std::string_view in, const std::array<int8_t, 256>& alphabet) {
    if (in.size() % 4 == 1) return std::nullopt;  // 6 bits cannot encode a byte
    std::string out;
    out.reserve(in.size() / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const int8_t v = alphabet[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
        }
    }
    // Leftover bits must be zero, so that each byte string has exactly one encoding.
    if (bits > 0 && (acc & ((1u << bits) - 1u)) != 0) return std::nullopt;
    return out;
}

// SAX filter that stops the reader once nesting passes the limit (the iterative reader would not
// overflow the stack, but would still build a huge DOM stack for "[[[[...").
template <class Handler>
class DepthLimiter {
public:
    DepthLimiter(Handler& inner, std::size_t max_depth) : inner_(inner), max_(max_depth) {}
    [[nodiscard]] bool exceeded() const { return exceeded_; }

    bool Null() { return inner_.Null(); }
    bool Bool(bool b) { return inner_.Bool(b); }
    bool Int(int i) { return inner_.Int(i); }
    bool Uint(unsigned u) { return inner_.Uint(u); }
    bool Int64(int64_t i) { return inner_.Int64(i); }
    bool Uint64(uint64_t u) { return inner_.Uint64(u); }
    bool Double(double d) { return inner_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return inner_.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return inner_.String(s, n, copy); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return inner_.Key(s, n, copy); }
    bool StartObject() { return enter() && inner_.StartObject(); }
    bool EndObject(rapidjson::SizeType n) {
        --depth_;
        return inner_.EndObject(n);
    }
    bool StartArray() { return enter() && inner_.StartArray(); }
    bool EndArray(rapidjson::SizeType n) {
        --depth_;
        return inner_.EndArray(n);
    }

private:
    bool enter() {
        if (++depth_ > max_) {
            exceeded_ = true;
            return false;
        }
        return true;
    }
    Handler& inner_;
    std::size_t max_;
    std::size_t depth_ = 0;
    bool exceeded_ = false;
};

struct BoundedParse {
    std::string_view text;
    std::size_t max_depth;
    rapidjson::ParseResult result{};
    bool too_deep = false;

    bool operator()(rapidjson::Document& doc) {
        constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
        rapidjson::MemoryStream stream(text.data(), text.size());
        rapidjson::Reader reader;
        DepthLimiter<rapidjson::Document> limiter(doc, max_depth);
        result = reader.Parse<kFlags>(stream, limiter);
        too_deep = limiter.exceeded();
        return !result.IsError();
    }
};

}  // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
    return decode(in, table().url);
}

bool is_base64url(std::string_view in) {
    return std::all_of(in.begin(), in.end(), [](char c) { return table().url[static_cast<unsigned char>(c)] >= 0; });
}

std::optional<std::string> base64_any_decode(std::string_view in) {
    if (auto url = decode(in, table().url)) return url;
    // Standard alphabet; padding only at the end and only as much as makes the length a multiple of 4.
    std::string_view body = in;
    std::size_t pad = 0;
    while (!body.empty() && body.back() == '=' && pad < 2) {
        body.remove_suffix(1);
        ++pad;
    }
    if (pad > 0 && in.size() % 4 != 0) return std::nullopt;
    return decode(body, table().standard);
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kUrlAlphabet[(acc >> bits) & 0x3Fu]);
        }
    }
    if (bits > 0) out.push_back(kUrlAlphabet[(acc << (6 - bits)) & 0x3Fu]);
    return out;
}

bool parse_json(std::string_view text, std::size_t max_depth, rapidjson::Document& doc, std::string& why) {
    if (text.find('\0') != std::string_view::npos) {
        why = "NUL byte in JSON";
        return false;
    }
    BoundedParse parse{text, max_depth};
    doc.Populate(parse);
    if (parse.result.IsError()) {
        why = parse.too_deep ? "JSON nested deeper than " + std::to_string(max_depth) + " levels"
                             : std::string("invalid JSON at offset ") + std::to_string(parse.result.Offset()) + ": " +
                                   rapidjson::GetParseError_En(parse.result.Code());
        return false;
    }
    return true;
}

const rapidjson::Value* find_member(const rapidjson::Value& obj, std::string_view name, bool& duplicate) {
    const rapidjson::Value* found = nullptr;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        if (std::string_view(it->name.GetString(), it->name.GetStringLength()) != name) continue;
        if (found != nullptr) duplicate = true;
        found = &it->value;
    }
    return found;
}

bool has_duplicate_members(const rapidjson::Value& v) {
    if (v.IsArray()) {
        for (const auto& item : v.GetArray()) {
            if (has_duplicate_members(item)) return true;  // depth is bounded by parse_json
        }
        return false;
    }
    if (!v.IsObject()) return false;
    std::vector<std::string_view> names;
    names.reserve(v.MemberCount());
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        names.emplace_back(it->name.GetString(), it->name.GetStringLength());
        if (has_duplicate_members(it->value)) return true;
    }
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) != names.end();
}

}  // namespace macp::auth_jwt
