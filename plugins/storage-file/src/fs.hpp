// The filesystem as storage-file sees it. Every disk access of the plugin goes through an Fs, so a
// test can substitute an in-memory filesystem that injects faults and simulates a power loss at
// any call, dropping whatever was not synced (tests/crash_fs.hpp). PosixFs is the real one.
//
// The calls mirror the system calls one to one (a crash can then be simulated at each syscall
// boundary) and report errors the POSIX way, without throwing: they return 0 or an errno value.
// Turning those into sdk::Error with paths, and the fail-stop rule for syncs, is disk.hpp's job.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace macp::storage_file {

struct DirEntry {
    std::string name;
    bool is_dir = false;
    bool is_file = false;
};

enum class FileKind { regular, directory, other };

class Fs {
public:
    Fs() = default;
    virtual ~Fs() = default;
    Fs(const Fs&) = delete;
    Fs& operator=(const Fs&) = delete;

    // open(2) with O_* flags (O_RDONLY/O_WRONLY/O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND,
    // O_DIRECTORY, O_CLOEXEC). On success stores the descriptor in `fd`.
    virtual int open(const std::string& path, int flags, mode_t mode, int& fd) = 0;
    virtual void close(int fd) noexcept = 0;
    // One write(2) at the descriptor's position (the end for O_APPEND); may be short.
    virtual int write(int fd, std::string_view data, size_t& written) = 0;
    // One pwrite(2) at `offset` (never with O_APPEND descriptors); may be short.
    virtual int pwrite(int fd, std::string_view data, off_t offset, size_t& written) = 0;
    virtual int pread(int fd, char* buf, size_t len, off_t offset, size_t& got) = 0;
    virtual int file_size(int fd, off_t& size) = 0;  // fstat(2) st_size
    virtual int ftruncate(int fd, off_t size) = 0;
    virtual int fsync(int fd) = 0;      // data and metadata of the file (or directory) itself
    virtual int fdatasync(int fd) = 0;  // data and size
    virtual int syncfs(int fd) = 0;     // everything on the descriptor's filesystem

    virtual int mkdir(const std::string& path, mode_t mode) = 0;
    virtual int rmdir(const std::string& path) = 0;
    virtual int unlink(const std::string& path) = 0;
    virtual int rename(const std::string& from, const std::string& to) = 0;

    virtual int stat(const std::string& path, FileKind& kind) = 0;
    // Entries without "." and "..".
    virtual int list_dir(const std::string& path, std::vector<DirEntry>& out) = 0;
    virtual int access(const std::string& path, int mode) = 0;  // access(2) with R_OK/W_OK/X_OK
    virtual int realpath(const std::string& path, std::string& out) = 0;
};

// The real filesystem. Stateless; EINTR is retried inside every call.
class PosixFs final : public Fs {
public:
    int open(const std::string& path, int flags, mode_t mode, int& fd) override;
    void close(int fd) noexcept override;
    int write(int fd, std::string_view data, size_t& written) override;
    int pwrite(int fd, std::string_view data, off_t offset, size_t& written) override;
    int pread(int fd, char* buf, size_t len, off_t offset, size_t& got) override;
    int file_size(int fd, off_t& size) override;
    int ftruncate(int fd, off_t size) override;
    int fsync(int fd) override;
    int fdatasync(int fd) override;
    int syncfs(int fd) override;
    int mkdir(const std::string& path, mode_t mode) override;
    int rmdir(const std::string& path) override;
    int unlink(const std::string& path) override;
    int rename(const std::string& from, const std::string& to) override;
    int stat(const std::string& path, FileKind& kind) override;
    int list_dir(const std::string& path, std::vector<DirEntry>& out) override;
    int access(const std::string& path, int mode) override;
    int realpath(const std::string& path, std::string& out) override;
};

}  // namespace macp::storage_file
