// The plugin's checked access to its filesystem: Fs calls whose failures become IO_ERRORs
// carrying path + strerror, and the fail-stop latch.
//
// Fail-stop (the PostgreSQL fsync lesson): after a failed fsync/fdatasync/syncfs the kernel may
// already have dropped the dirty pages and marked them clean, so a second sync can succeed
// although the data never reached the disk. Retrying and then acknowledging would lie. So the
// first failed sync stops the store: that call fails, and so does every later write and health
// check, until the runtime is restarted and replays what is really on disk. A failed *write*
// (ENOSPC, EDQUOT, EROFS, EACCES, EFBIG...) is not fail-stop: nothing was promised, the partial
// write is rolled back, and later writes succeed again once space or permission returns.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "fs.hpp"
#include "unique_fd.hpp"

namespace macp::storage_file {

// Session data may hold business payloads: keep it away from other local users by default.
inline constexpr mode_t kFileMode = 0640;
inline constexpr mode_t kDirMode = 0750;

// strerror text; strerror() itself is not thread-safe and this plugin is.
std::string errno_text(int err);

// Fails the current plugin call with MACP_STATUS_IO_ERROR "<what>: <strerror(err)>".
[[noreturn]] void throw_io(const std::string& what, int err);

class Disk {
public:
    explicit Disk(std::shared_ptr<Fs> fs) : fs_(std::move(fs)) {}

    [[nodiscard]] Fs& fs() const { return *fs_; }

    // open(2). On failure returns an empty UniqueFd and stores the errno in `err`.
    UniqueFd open(const std::string& path, int flags, int& err, mode_t mode = kFileMode) const;

    // Writes every byte, looping over short writes (disk nearly full, signals). Not fail-stop.
    void write_all(int fd, std::string_view data, const std::string& path) const;

    // The syncs. A failure stops the store (see above) and throws the stop error; once stopped
    // they fail without syncing.
    void sync_data(int fd, const std::string& path);  // fdatasync: enough for appends
    void sync_file(int fd, const std::string& path);  // fsync: new files need their metadata too
    // syncfs of the filesystem holding `fd`. Returns false, without syncing and without
    // stopping, only if the kernel or a seccomp filter does not offer syncfs (ENOSYS, EPERM):
    // then nothing was flushed yet and the caller falls back to per-file syncs.
    bool sync_filesystem(int fd, const std::string& what);

    // Whole file contents, or nullopt if it does not exist.
    [[nodiscard]] std::optional<std::string> read_whole_file(const std::string& path) const;

    // Throws the stop error if the store has stopped: the first thing every write does.
    void check_writable() const;
    // The stop message, if stopped.
    [[nodiscard]] std::optional<std::string> stop_reason() const;
    // Latches the stop (the first reason wins) and throws it.
    [[noreturn]] void stop(const std::string& failed_call, int err);

private:
    [[noreturn]] void throw_stopped() const;

    std::shared_ptr<Fs> fs_;
    std::atomic<bool> stopped_{false};
    mutable std::mutex mu_;
    std::string reason_;  // guarded by mu_; set once
};

}  // namespace macp::storage_file
