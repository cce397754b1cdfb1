// The journal's on-disk frame: what one record (or one session reset) looks like in a segment.
//
//   u32 crc32c   of every byte after this field (the rest of the header and the body)
//   u32 length   of the body: 24 + session id + record
//   body:  u64 segment sequence number   (a recycled segment's stale frames carry an older one)
//          u8  kind (1 append, 2 reset), 3 bytes zero
//          u32 session id length
//          u64 offset in the session's log.jsonl where the line starts (append; 0 for reset)
//          session id bytes, then the record (without its '\n')
// All integers little-endian. A frame is valid only whole, with the right CRC and the segment's
// own sequence number, so a torn write, zeros or the leftovers of a recycled segment end the scan.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace macp::storage_file {

enum class FrameKind : uint8_t {
    append = 1,  // a record appended to the session's log at `offset`
    reset = 2,   // the session's log was replaced or deleted: its earlier frames no longer apply
};

inline constexpr size_t kFramePrefix = 8;  // crc + length
inline constexpr size_t kFrameBodyHeader = 24;

struct Frame {
    FrameKind kind = FrameKind::append;
    std::string_view session_id;
    off_t offset = 0;
    std::string_view record;
};

// CRC-32C (Castagnoli), the checksum of ext4's and RocksDB's journals.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

// Appends the frame of `frame` in a segment numbered `seq` to `out`.
void encode_frame(std::string& out, uint64_t seq, const Frame& frame);

// The frame at the start of `data` if it is whole, valid and of segment `seq`; `size` gets its
// length in bytes. The views point into `data`.
std::optional<Frame> decode_frame(std::string_view data, uint64_t seq, size_t& size);

}  // namespace macp::storage_file
