#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "fs.hpp"

namespace macp::storage_file {
namespace {

// Runs `call` (returning -1 + errno on failure) until it is not interrupted; 0 or the errno.
template <class Call>
int retry(Call&& call) {
    for (;;) {
        if (call() != -1) return 0;
        if (errno != EINTR) return errno;
    }
}

struct DirCloser {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};

}  // namespace

int PosixFs::open(const std::string& path, int flags, mode_t mode, int& fd) {
    return retry([&] { return fd = ::open(path.c_str(), flags, mode); });
}

void PosixFs::close(int fd) noexcept {
    // close(2) errors are ignored on purpose: every byte we promise is synced before its
    // descriptor is dropped, so a failing close cannot lose acknowledged data. Never retried on
    // EINTR (the descriptor is gone either way on Linux).
    const int saved = errno;
    ::close(fd);
    errno = saved;
}

int PosixFs::write(int fd, std::string_view data, size_t& written) {
    ssize_t n = 0;
    const int err = retry([&] { return n = ::write(fd, data.data(), data.size()); });
    written = err == 0 ? static_cast<size_t>(n) : 0;
    return err;
}

int PosixFs::pwrite(int fd, std::string_view data, off_t offset, size_t& written) {
    ssize_t n = 0;
    const int err = retry([&] { return n = ::pwrite(fd, data.data(), data.size(), offset); });
    written = err == 0 ? static_cast<size_t>(n) : 0;
    return err;
}

int PosixFs::pread(int fd, char* buf, size_t len, off_t offset, size_t& got) {
    ssize_t n = 0;
    const int err = retry([&] { return n = ::pread(fd, buf, len, offset); });
    got = err == 0 ? static_cast<size_t>(n) : 0;
    return err;
}

int PosixFs::file_size(int fd, off_t& size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno;
    size = st.st_size;
    return 0;
}

int PosixFs::ftruncate(int fd, off_t size) {
    return retry([&] { return ::ftruncate(fd, size); });
}

// Linux never interrupts fsync before it has done anything, so retrying EINTR cannot hide a
// writeback error; every other error is returned as is (the caller stops the store).
int PosixFs::fsync(int fd) {
    return retry([&] { return ::fsync(fd); });
}

int PosixFs::fdatasync(int fd) {
    return retry([&] { return ::fdatasync(fd); });
}

int PosixFs::syncfs(int fd) {
    return retry([&] { return ::syncfs(fd); });
}

int PosixFs::mkdir(const std::string& path, mode_t mode) {
    return ::mkdir(path.c_str(), mode) == 0 ? 0 : errno;
}

int PosixFs::rmdir(const std::string& path) {
    return ::rmdir(path.c_str()) == 0 ? 0 : errno;
}

int PosixFs::unlink(const std::string& path) {
    return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

int PosixFs::rename(const std::string& from, const std::string& to) {
    return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

int PosixFs::stat(const std::string& path, FileKind& kind) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno;
    kind = S_ISDIR(st.st_mode) ? FileKind::directory : S_ISREG(st.st_mode) ? FileKind::regular : FileKind::other;
    return 0;
}

int PosixFs::list_dir(const std::string& path, std::vector<DirEntry>& out) {
    out.clear();
    std::unique_ptr<DIR, DirCloser> d(::opendir(path.c_str()));
    if (!d) return errno;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d.get());
        if (e == nullptr) return errno;
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        DirEntry entry{name, e->d_type == DT_DIR, e->d_type == DT_REG};
        // Some filesystems (XFS without ftype, network mounts) do not fill d_type.
        if (e->d_type == DT_UNKNOWN) {
            struct stat st {};
            if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                entry.is_dir = S_ISDIR(st.st_mode);
                entry.is_file = S_ISREG(st.st_mode);
            }
        }
        out.push_back(std::move(entry));
    }
}

int PosixFs::access(const std::string& path, int mode) {
    return ::access(path.c_str(), mode) == 0 ? 0 : errno;
}

int PosixFs::realpath(const std::string& path, std::string& out) {
    std::unique_ptr<char, decltype(&std::free)> abs(::realpath(path.c_str(), nullptr), &std::free);
    if (!abs) return errno;
    out = abs.get();
    return 0;
}

}  // namespace macp::storage_file
