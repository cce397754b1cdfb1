#include "journal_frame.hpp"

#include <array>

namespace macp::storage_file {
namespace {

constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
        table[i] = c;
    }
    return table;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

void put_u32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFFU);
}

void put_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFFU);
}

uint64_t get_le(std::string_view data, size_t pos, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(data[pos + static_cast<size_t>(i)]);
    return v;
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
    crc = ~crc;
    for (const char ch : data) crc = kTable[(crc ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (crc >> 8);
    return ~crc;
}

void encode_frame(std::string& out, uint64_t seq, const Frame& frame) {
    const size_t start = out.size();
    const size_t body = kFrameBodyHeader + frame.session_id.size() + frame.record.size();
    put_u32(out, 0);  // the crc, filled in below
    put_u32(out, static_cast<uint32_t>(body));
    put_u64(out, seq);
    out += static_cast<char>(frame.kind);
    out.append(3, '\0');
    put_u32(out, static_cast<uint32_t>(frame.session_id.size()));
    put_u64(out, static_cast<uint64_t>(frame.offset));
    out.append(frame.session_id);
    out.append(frame.record);
    const uint32_t crc = crc32c(std::string_view(out).substr(start + 4));
    for (size_t i = 0; i < 4; ++i) out[start + i] = static_cast<char>((crc >> (8 * i)) & 0xFFU);
}

std::optional<Frame> decode_frame(std::string_view data, uint64_t seq, size_t& size) {
    if (data.size() < kFramePrefix + kFrameBodyHeader) return std::nullopt;
    const auto body = static_cast<size_t>(get_le(data, 4, 4));
    if (body < kFrameBodyHeader || body > data.size() - kFramePrefix) return std::nullopt;
    if (crc32c(data.substr(4, 4 + body)) != static_cast<uint32_t>(get_le(data, 0, 4))) return std::nullopt;
    if (get_le(data, 8, 8) != seq) return std::nullopt;
    const auto kind = static_cast<unsigned char>(data[16]);
    if (kind != static_cast<unsigned char>(FrameKind::append) && kind != static_cast<unsigned char>(FrameKind::reset)) {
        return std::nullopt;
    }
    const auto sid_len = static_cast<size_t>(get_le(data, 20, 4));
    if (sid_len > body - kFrameBodyHeader) return std::nullopt;
    const uint64_t offset = get_le(data, 24, 8);
    if (offset > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    Frame f;
    f.kind = static_cast<FrameKind>(kind);
    f.offset = static_cast<off_t>(offset);
    f.session_id = data.substr(kFramePrefix + kFrameBodyHeader, sid_len);
    f.record = data.substr(kFramePrefix + kFrameBodyHeader + sid_len, body - kFrameBodyHeader - sid_len);
    size = kFramePrefix + body;
    return f;
}

}  // namespace macp::storage_file
