#include "codec.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include <rapidjson/error/en.h>

#include "bounded_json.hpp"
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
    macp::plugin_json::BoundedParse parse{text, max_depth};
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
