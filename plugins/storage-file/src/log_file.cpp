#include "log_file.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "fs_ops.hpp"
#include "macp/plugin/sdk/common.hpp"
#include "macp/plugin/sdk/storage.hpp"

namespace macp::storage_file {
namespace {

constexpr size_t kChunk = 1 << 16;

// Offset just past the last '\n' in [0, size), or 0 if there is none. Reads backwards in chunks
// so a torn multi-megabyte record does not need to fit in memory.
off_t end_of_last_line(Disk& disk, int fd, off_t size, const std::string& path) {
    std::vector<char> buf(kChunk);
    off_t end = size;
    while (end > 0) {
        const off_t begin = std::max<off_t>(0, end - static_cast<off_t>(kChunk));
        const auto len = static_cast<size_t>(end - begin);
        size_t n = 0;
        if (const int err = disk.fs().pread(fd, buf.data(), len, begin, n); err != 0) throw_io("read " + path, err);
        if (n != len) {
            throw sdk::Error(MACP_STATUS_IO_ERROR, "read " + path + ": file shrank while repairing");
        }
        for (size_t i = len; i > 0; --i) {
            if (buf[i - 1] == '\n') return begin + static_cast<off_t>(i);
        }
        end = begin;
    }
    return 0;
}

}  // namespace

std::string frame_record(std::string_view record) {
    sdk::check_record(record);  // one record per line
    std::string line;
    line.reserve(record.size() + 1);
    line.append(record);
    line += '\n';
    return line;
}

TailRepair repair_torn_tail(Disk& disk, int fd, const std::string& path) {
    off_t size = 0;
    if (const int err = disk.fs().file_size(fd, size); err != 0) throw_io("stat " + path, err);
    if (size == 0) return {};
    char last = 0;
    size_t n = 0;
    if (const int err = disk.fs().pread(fd, &last, 1, size - 1, n); err != 0 || n != 1) {
        throw_io("read " + path, err != 0 ? err : EIO);
    }
    if (last == '\n') return {size, 0};

    const off_t keep = end_of_last_line(disk, fd, size, path);
    disk.check_writable();
    if (const int err = disk.fs().ftruncate(fd, keep); err != 0) throw_io("truncate torn tail of " + path, err);
    disk.sync_data(fd, path);
    return {keep, size - keep};
}

std::shared_ptr<LogHandle> open_log_for_append(Disk& disk, const std::string& path) {
    constexpr int kFlags = O_RDWR | O_APPEND | O_CLOEXEC;  // read access: the tail check
    int err = 0;
    UniqueFd fd = disk.open(path, kFlags, err);
    if (!fd && err == ENOENT) {
        disk.check_writable();
        // O_EXCL: only the call that really created the file syncs its directory, and that call
        // must succeed in doing so (or undo the create) before anything is appended.
        fd = disk.open(path, kFlags | O_CREAT | O_EXCL, err);
        if (fd) {
            sync_new_entry(disk, path, false);
        } else if (err == EEXIST) {
            fd = disk.open(path, kFlags, err);
        }
    }
    if (!fd) throw_io("open " + path, err);
    const TailRepair repair = repair_torn_tail(disk, fd.get(), path);
    return std::make_shared<LogHandle>(std::move(fd), path, repair.kept);
}

void append_line(Disk& disk, LogHandle& log, std::string_view line) {
    disk.write_all(log.fd.get(), line, log.path);
    log.size += static_cast<off_t>(line.size());
}

void roll_back(Disk& disk, LogHandle& log, off_t size) noexcept {
    disk.fs().ftruncate(log.fd.get(), size);
    log.size = size;
}

bool read_complete_lines(Disk& disk, const std::string& path, const std::function<void(std::string_view)>& fn) {
    int err = 0;
    UniqueFd fd = disk.open(path, O_RDONLY | O_CLOEXEC, err);
    if (!fd) {
        if (err == ENOENT) return false;
        throw_io("open " + path, err);
    }
    // One buffer per reading thread, reused and never zeroed: recovery reads every log once, and
    // a fresh zero-filled 64 KiB vector per log cost a memset and, once glibc trimmed it, fresh
    // page faults each time (issue #13). `fn` is called synchronously and never re-enters.
    thread_local const std::unique_ptr<char[]> buf(new char[kChunk]);
    std::string carry;  // a line that straddles two chunks
    off_t offset = 0;
    for (;;) {
        size_t n = 0;
        if (const int e = disk.fs().pread(fd.get(), buf.get(), kChunk, offset, n); e != 0) {
            throw_io("read " + path, e);
        }
        if (n == 0) return true;  // whatever is left in `carry` is a torn tail
        offset += static_cast<off_t>(n);
        const std::string_view chunk(buf.get(), n);
        size_t start = 0;
        for (size_t nl = chunk.find('\n'); nl != std::string_view::npos; start = nl + 1, nl = chunk.find('\n', start)) {
            const std::string_view piece = chunk.substr(start, nl - start);
            if (carry.empty()) {
                if (!piece.empty()) fn(piece);
            } else {
                carry.append(piece);
                fn(carry);
                carry.clear();
            }
        }
        carry.append(chunk.substr(start));
    }
}

}  // namespace macp::storage_file
