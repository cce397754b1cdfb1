// One session's log.jsonl: record framing, torn-tail repair, appends and reads.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "disk.hpp"
#include "unique_fd.hpp"

namespace macp::storage_file {

// An open log, positioned for O_APPEND writes. `size` counts the bytes of complete lines; only
// the thread currently appending for the session touches it (the host never runs two calls for
// one session at once), which is what lets a failed append be rolled back exactly.
struct LogHandle {
    LogHandle(UniqueFd f, std::string p, off_t s) : fd(std::move(f)), path(std::move(p)), size(s) {}
    UniqueFd fd;
    std::string path;
    off_t size;
};

// Rejects what would break the one-record-per-line framing: an embedded '\n' would split the
// record, and an empty one would read back as a skipped blank line. Returns record + '\n'.
std::string frame_record(std::string_view record);

struct TailRepair {
    off_t kept = 0;     // file size afterwards
    off_t removed = 0;  // bytes of the torn final line that were cut off
};

// Cuts an unterminated final line (a write torn by a crash or a failed append) back to just
// after the last '\n', and syncs the truncation.
TailRepair repair_torn_tail(Disk& disk, int fd, const std::string& path);

// Opens `path` for appending, creating it and syncing its directory if needed, so the new name
// survives a crash. The tail is repaired first so the next record never glues onto
// a torn line.
std::shared_ptr<LogHandle> open_log_for_append(Disk& disk, const std::string& path);

// Writes one framed line (no sync) and advances `size`.
void append_line(Disk& disk, LogHandle& log, std::string_view line);

// Best effort: shrinks the file back to `size` after a failed write or sync, so a record the
// host was told failed does not reappear later. If this fails too, the caller drops the handle
// and the next open repairs whatever torn tail is left (a failed write leaves at most a strict
// prefix of its line, never a '\n'; a failed sync stops the store anyway).
void roll_back(Disk& disk, LogHandle& log, off_t size) noexcept;

// Calls `fn` for every complete, non-empty line (without its '\n'). A final line without '\n'
// is a torn write and is not reported. Returns false if the file does not exist.
bool read_complete_lines(Disk& disk, const std::string& path, const std::function<void(std::string_view)>& fn);

}  // namespace macp::storage_file
