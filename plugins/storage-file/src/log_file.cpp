#include "log_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "fs_ops.hpp"
#include "macp/plugin/sdk/common.hpp"
#include "posix_io.hpp"

namespace macp::storage_file {
namespace {

constexpr size_t kChunk = 1 << 16;

ssize_t pread_retry(int fd, char* buf, size_t len, off_t offset) {
    for (;;) {
        const ssize_t n = ::pread(fd, buf, len, offset);
        if (n >= 0 || errno != EINTR) return n;
    }
}

// Offset just past the last '\n' in [0, size), or 0 if there is none. Reads backwards in chunks
// so a torn multi-megabyte record does not need to fit in memory.
off_t end_of_last_line(int fd, off_t size, const std::string& path) {
    std::vector<char> buf(kChunk);
    off_t end = size;
    while (end > 0) {
        const off_t begin = std::max<off_t>(0, end - static_cast<off_t>(kChunk));
        const auto len = static_cast<size_t>(end - begin);
        const ssize_t n = pread_retry(fd, buf.data(), len, begin);
        if (n < 0) throw_io("read " + path, errno);
        if (static_cast<size_t>(n) != len) {
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
    if (record.empty()) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "empty log record");
    }
    if (record.find('\n') != std::string_view::npos) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         "log record contains a newline; records are stored one per line");
    }
    std::string line;
    line.reserve(record.size() + 1);
    line.append(record);
    line += '\n';
    return line;
}

TailRepair repair_torn_tail(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_io("stat " + path, errno);
    const off_t size = st.st_size;
    if (size == 0) return {};
    char last = 0;
    const ssize_t n = pread_retry(fd, &last, 1, size - 1);
    if (n != 1) throw_io("read " + path, n < 0 ? errno : EIO);
    if (last == '\n') return {size, 0};

    const off_t keep = end_of_last_line(fd, size, path);
    if (::ftruncate(fd, keep) != 0) throw_io("truncate torn tail of " + path, errno);
    sync_data(fd, path);
    return {keep, size - keep};
}

std::shared_ptr<LogHandle> open_log_for_append(const std::string& dir, const std::string& path) {
    constexpr int kFlags = O_RDWR | O_APPEND | O_CLOEXEC;  // read access: the tail check
    UniqueFd fd = open_file(path, kFlags);
    if (!fd && errno == ENOENT) {
        fd = open_file(path, kFlags | O_CREAT);
        if (fd) sync_dir(dir);
    }
    if (!fd) throw_io("open " + path, errno);
    const TailRepair repair = repair_torn_tail(fd.get(), path);
    return std::make_shared<LogHandle>(std::move(fd), path, repair.kept);
}

void append_line(LogHandle& log, std::string_view line) {
    write_all(log.fd.get(), line, log.path);
    log.size += static_cast<off_t>(line.size());
}

void roll_back(LogHandle& log, off_t size) noexcept {
    while (::ftruncate(log.fd.get(), size) != 0 && errno == EINTR) {
    }
    log.size = size;
}

bool read_complete_lines(const std::string& path, const std::function<void(std::string_view)>& fn) {
    UniqueFd fd = open_file(path, O_RDONLY | O_CLOEXEC);
    if (!fd) {
        if (errno == ENOENT) return false;
        throw_io("open " + path, errno);
    }
    std::vector<char> buf(kChunk);
    std::string carry;  // a line that straddles two chunks
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_io("read " + path, errno);
        }
        if (n == 0) return true;  // whatever is left in `carry` is a torn tail
        const std::string_view chunk(buf.data(), static_cast<size_t>(n));
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
