#include "disk.hpp"

#include <fcntl.h>

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

UniqueFd Disk::open(const std::string& path, int flags, int& err, mode_t mode) const {
    int fd = -1;
    err = fs_->open(path, flags, mode, fd);
    if (err != 0) return {};
    return UniqueFd(*fs_, fd);
}

void Disk::write_all(int fd, std::string_view data, const std::string& path) const {
    while (!data.empty()) {
        size_t n = 0;
        const int err = fs_->write(fd, data, n);
        if (err != 0) throw_io("write " + path, err);
        if (n == 0) throw_io("write " + path, EIO);  // write(2) never returns 0 for a non-empty buffer
        data.remove_prefix(n);
    }
}

void Disk::sync_data(int fd, const std::string& path) {
    check_writable();
    if (const int err = fs_->fdatasync(fd); err != 0) stop("fdatasync of " + path, err);
}

void Disk::sync_file(int fd, const std::string& path) {
    check_writable();
    if (const int err = fs_->fsync(fd); err != 0) stop("fsync of " + path, err);
}

bool Disk::sync_filesystem(int fd, const std::string& what) {
    check_writable();
    const int err = fs_->syncfs(fd);
    if (err == 0) return true;
    if (err == ENOSYS || err == EPERM) return false;
    stop("syncfs of " + what, err);
}

std::optional<std::string> Disk::read_whole_file(const std::string& path) const {
    int err = 0;
    UniqueFd fd = open(path, O_RDONLY | O_CLOEXEC, err);
    if (!fd) {
        if (err == ENOENT) return std::nullopt;
        throw_io("open " + path, err);
    }
    std::string out;
    char buf[1 << 16];
    for (;;) {
        size_t n = 0;
        if (const int e = fs_->pread(fd.get(), buf, sizeof(buf), static_cast<off_t>(out.size()), n); e != 0) {
            throw_io("read " + path, e);
        }
        if (n == 0) return out;
        out.append(buf, n);
    }
}

void Disk::check_writable() const {
    if (stopped_.load(std::memory_order_acquire)) throw_stopped();
}

std::optional<std::string> Disk::stop_reason() const {
    if (!stopped_.load(std::memory_order_acquire)) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    return reason_;
}

void Disk::stop(const std::string& failed_call, int err) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (reason_.empty()) {
            reason_ = "storage stopped after a failed " + failed_call + ": " + errno_text(err) +
                      "; restart the runtime to recover from the log";
            stopped_.store(true, std::memory_order_release);
        }
    }
    throw_stopped();
}

void Disk::throw_stopped() const {
    std::lock_guard<std::mutex> lock(mu_);
    throw sdk::Error(MACP_STATUS_IO_ERROR, reason_);
}

}  // namespace macp::storage_file
