#include "posix_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {
namespace {

// strerror_r has two incompatible signatures (GNU returns char*, XSI returns int); overload
// resolution picks whichever the C library declared.
[[maybe_unused]] std::string pick_strerror(const char* gnu_result, const char* /*buf*/) {
    return gnu_result;
}
[[maybe_unused]] std::string pick_strerror(int xsi_result, const char* buf) {
    return xsi_result == 0 ? std::string(buf) : std::string("unknown error");
}

}  // namespace

std::string errno_text(int err) {
    char buf[256] = {};
    return pick_strerror(::strerror_r(err, buf, sizeof(buf)), buf);
}

void throw_io(const std::string& what, int err) {
    throw sdk::Error(MACP_STATUS_IO_ERROR, what + ": " + errno_text(err));
}

UniqueFd open_file(const std::string& path, int flags, mode_t mode) {
    for (;;) {
        const int fd = ::open(path.c_str(), flags, mode);
        if (fd >= 0) return UniqueFd(fd);
        if (errno != EINTR) return UniqueFd();
    }
}

void write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_io("write " + path, errno);
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
}

void sync_data(int fd, const std::string& path) {
    while (::fdatasync(fd) != 0) {
        if (errno != EINTR) throw_io("fdatasync " + path, errno);
    }
}

void sync_file(int fd, const std::string& path) {
    while (::fsync(fd) != 0) {
        if (errno != EINTR) throw_io("fsync " + path, errno);
    }
}

std::optional<std::string> read_whole_file(const std::string& path) {
    UniqueFd fd = open_file(path, O_RDONLY | O_CLOEXEC);
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw_io("open " + path, errno);
    }
    std::string out;
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_io("read " + path, errno);
        }
        if (n == 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace macp::storage_file
