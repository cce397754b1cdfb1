// CrashFs: an in-memory Fs (src/fs.hpp) for tests, modelled on SQLite's crash VFS and RocksDB's
// FaultInjectionTestFS.
//
// Every file keeps its current contents and its durable contents; every directory keeps its
// current entries and its durable entries. The model is deliberately conservative (weaker than
// ext4, within what POSIX allows):
//   * fsync/fdatasync of a file makes its data and size durable, but not its name;
//   * creating, renaming and unlinking an entry, mkdir and rmdir become durable only when the
//     parent directory is fsync'ed, independently for each directory;
//   * syncfs makes everything durable;
//   * an unsynced overwrite of bytes that were durable may survive in part (torn images apply the
//     first half, or all but the last byte, of the changed range; zero images keep the old bytes).
// crash_after(n) lets the first n mutating calls (open with O_CREAT/O_TRUNC, write, ftruncate,
// fsync, fdatasync, syncfs, mkdir, rmdir, unlink, rename) through; the next one and every call
// after it, of any kind, fails with EIO (the machine is gone). crash_image() then builds a fresh
// CrashFs holding what a power loss could have left on disk: the durable state, or a variant in
// which some of the unsynced work did reach the disk (all of it, a torn prefix of unsynced
// appended bytes, or zeros in their place).
//
// For the fail-stop and disk-full tests it also injects errors into chosen calls, limits the
// total file bytes (writes past it are cut short, then fail with ENOSPC) and can turn read-only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fs.hpp"

namespace macp::storage_file::testing {

enum class Call {
    open,
    write,
    pread,
    file_size,
    ftruncate,
    fsync,
    fdatasync,
    syncfs,
    mkdir,
    rmdir,
    unlink,
    rename,
    stat,
    list_dir,
    access,
    realpath,
};

// What survives the crash in an image.
struct ImageSpec {
    enum class Meta {
        durable,  // only directory entries whose directory was fsync'ed
        current,  // every create/rename/unlink reached the disk
        mixed,    // per directory, one or the other (chosen by `seed`)
    };
    enum class Data {
        durable,       // only synced bytes
        current,       // every written byte
        half_tail,     // the first half of the bytes appended since the last sync
        all_but_last,  // every appended byte but the last: always a torn final line
        zero_tail,     // the size grew but the appended bytes read as zeros
        mixed,         // per file, one of the above (chosen by `seed`)
    };
    Meta meta = Meta::durable;
    Data data = Data::durable;
    uint64_t seed = 0;
};

std::string describe(const ImageSpec& spec);

class CrashFs final : public Fs {
public:
    CrashFs();

    // ---- crash simulation ------------------------------------------------------------------
    // The first `n` mutating calls from now on succeed, then the machine crashes. n < 0: never.
    void crash_after(long n);
    [[nodiscard]] bool crashed() const;
    // Mutating calls that went through so far.
    [[nodiscard]] long mutations() const;
    // The disk as a power loss now would leave it, as a fresh filesystem.
    [[nodiscard]] std::shared_ptr<CrashFs> crash_image(const ImageSpec& spec) const;

    // ---- fault injection -------------------------------------------------------------------
    // Calls of kind `call` whose path contains `path_contains` fail with `err`, `times` times
    // (-1: until cleared). Descriptor calls match the path the descriptor was opened with.
    void inject(Call call, int err, std::string path_contains = {}, int times = -1);
    // The same for calls on exactly `path`.
    void inject_exact(Call call, int err, std::string path, int times = -1);
    void clear_faults();
    // At most `bytes` bytes of file data in total; nullopt: unlimited.
    void set_capacity(std::optional<size_t> bytes);
    // Like a remount: every pending change is made durable first, then all writes fail EROFS.
    void set_read_only(bool read_only);

    // ---- inspection (never fail, never count) ----------------------------------------------
    [[nodiscard]] long calls(Call call) const;
    [[nodiscard]] std::optional<std::string> contents(const std::string& path) const;
    [[nodiscard]] bool exists(const std::string& path) const;
    [[nodiscard]] size_t used_bytes() const;
    // Creates or replaces a file with durable contents (its directory must exist).
    void put_file(const std::string& path, const std::string& data);
    // Every path with its kind and sizes, for failure messages.
    [[nodiscard]] std::string dump() const;

    // ---- Fs ----------------------------------------------------------------------------------
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

private:
    struct Node {
        bool dir = false;
        std::string data, durable_data;
        std::map<std::string, std::shared_ptr<Node>> entries, durable_entries;
    };
    struct OpenFile {
        std::shared_ptr<Node> node;
        int flags = 0;
        off_t pos = 0;
        std::string path;
    };
    struct Fault {
        Call call;
        int err;
        std::string path;
        bool exact;
        int times;
    };

    // write and pwrite: `offset` < 0 means at the descriptor's position (or the end, O_APPEND).
    int write_at(int fd, std::string_view data, off_t offset, size_t& written);
    // Called first by every Fs call: 0 to go on, or the errno to fail with.
    int begin(Call call, const std::string& path, bool mutating);
    // Resolves an absolute path; nullptr + err if missing.
    std::shared_ptr<Node> lookup(const std::string& path, int& err) const;
    // The directory that holds `path` and the last component.
    std::shared_ptr<Node> lookup_parent(const std::string& path, std::string& name, int& err) const;
    OpenFile* file(int fd);
    void sync_all(const std::shared_ptr<Node>& node);
    size_t used_locked() const;

    mutable std::mutex mu_;
    std::shared_ptr<Node> root_;
    std::map<int, OpenFile> fds_;
    int next_fd_ = 3;
    long crash_after_ = -1;
    long mutations_ = 0;
    bool crashed_ = false;
    std::vector<Fault> faults_;
    std::optional<size_t> capacity_;
    bool read_only_ = false;
    std::map<Call, long> calls_;
};

}  // namespace macp::storage_file::testing
