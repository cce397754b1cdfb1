// The write-ahead journal of the file store (issue #13).
//
// Without it, every group commit made its records durable with a write to each session's log and
// one syncfs() of the whole filesystem (or one fdatasync per log): a journal commit and a cache
// flush of everything on the disk, several milliseconds at p99 under load. With it, a commit is the
// log writes (page cache only) plus ONE write of all the batch's records, framed and checksummed,
// to the current journal segment and ONE fdatasync of that file. Segments are zero-filled or
// recycled ahead of use, so that fdatasync only overwrites data blocks: no metadata, no ext4
// journal commit.
//
// The logs stay the store's readable truth (same layout as before, BEHAVIOR.md STO-FILE-1); the
// journal only holds what they may not yet have on disk. A checkpoint makes every log durable
// (one syncfs) and retires the segments written before it (renamed for reuse or removed, strictly
// oldest first). After a crash, the constructor replays the remaining segments into the logs
// (journal_replay.hpp), syncs, and retires them, before anything reads the store.
//
// replace_log and delete_session first sync the session's current log, then commit a reset frame:
// the session's earlier frames then no longer apply, and replay never writes old records into a
// replaced or recreated log.
//
// THREADING: commit, reset and checkpoint may be called from any thread; one mutex orders
// commits. With `background`, a thread of the journal's own makes checkpoints and prepares the
// next segment, so a commit never waits for either unless the active segment has grown to four
// times its size; without it (deterministic crash tests), both run inline in the commit that
// fills a segment.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "disk.hpp"
#include "journal_frame.hpp"
#include "layout.hpp"
#include "unique_fd.hpp"

namespace macp::storage_file {

struct JournalOptions {
    bool enabled = true;
    size_t segment_bytes = size_t{16} << 20;
    bool background = true;
};

class Journal {
public:
    // `root_fd` (the data directory, open for the store's lifetime) is what syncfs is called on.
    // Probes syncfs once: without it (ENOSYS, seccomp EPERM) the journal is off and the store
    // syncs every log as before.
    Journal(Disk& disk, const Layout& layout, int root_fd, JournalOptions options);
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    [[nodiscard]] bool enabled() const { return enabled_; }
    // For health(): whether the journal is on, and why not.
    [[nodiscard]] std::string describe() const;

    // Start-up: replays what a crash left in the journal into the logs, makes them durable and
    // retires the segments. Returns what it repaired, for recover(). Runs even when the journal
    // is off now (it may have been on before the crash). Before any other call.
    std::vector<std::string> replay();

    // Makes `frames` durable: one write to the active segment, one fdatasync. A failed write
    // throws IO_ERROR and leaves nothing of the frames readable; a failed sync stops the store.
    void commit(const std::vector<Frame>& frames);

    // Makes every log durable and retires every segment (flush, shutdown).
    void checkpoint();

private:
    struct Segment {
        uint64_t seq = 0;
        std::string path;
        UniqueFd fd;
        off_t used = 0;
        size_t capacity = 0;  // bytes zero-filled ahead: commits within them change no metadata
    };

    [[nodiscard]] std::string segment_path(uint64_t seq) const;
    [[nodiscard]] std::string free_path(uint64_t seq) const;

    // mu_ held by the callers of these four.
    void ensure_active();  // the next segment if one is ready, else a new first one
    void open_first_segment();
    void rotate(std::unique_lock<std::mutex>& lock, size_t needed);
    void write_frames(const std::string& bytes);

    // A segment ready to be written from its start, at least `capacity` bytes long and zero-filled
    // or recycled: a retired one renamed (its stale frames carry older numbers) or a new one, its
    // name synced into the journal directory.
    Segment prepare(uint64_t seq, std::optional<uint64_t> recycled, size_t capacity);
    // syncfs, then each segment in order recycled or removed (popped from `segments`), then the
    // directory synced. After a failure `segments` holds the ones not retired. Takes no lock but
    // free_mu_, so it runs with or without mu_ held.
    void retire(std::deque<Segment>& segments);
    // mu_ held: `segments` back at the front of pending_, where they were.
    void put_back(std::deque<Segment>& segments);
    std::optional<uint64_t> take_free();
    void run();

    Disk& disk_;
    const Layout& layout_;
    std::string dir_;
    int root_fd_;
    JournalOptions options_;
    bool enabled_ = false;
    std::string off_reason_;

    std::mutex ckpt_mu_;  // orders checkpoints, so segments retire oldest first; before mu_
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::optional<Segment> active_;
    std::optional<Segment> next_;
    std::deque<Segment> pending_;  // full, waiting for a checkpoint, oldest first
    std::mutex free_mu_;           // a leaf: taken with or without mu_
    std::deque<uint64_t> free_;    // retired segments kept for reuse (free-<seq>.wal); free_mu_
    uint64_t max_seq_ = 0;         // the highest sequence number ever used here
    bool want_next_ = false;       // the active segment is half full: get the next one ready
    bool prepare_failed_ = false;  // until a commit asks again
    std::optional<std::string> error_;
    bool stop_ = false;
    std::string scratch_;
    std::thread thread_;  // last: started once everything above exists
};

}  // namespace macp::storage_file
