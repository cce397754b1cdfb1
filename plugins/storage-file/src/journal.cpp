#include "journal.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <map>

#include "fs_ops.hpp"
#include "journal_replay.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {
namespace {

constexpr const char* kSegmentSuffix = ".wal";
constexpr const char* kFreePrefix = "free-";
constexpr size_t kMaxFree = 2;
// While the next segment is not ready yet, the active one grows past its size, up to this many
// times it, before a commit waits for the checkpointer.
constexpr size_t kGrowthLimit = 4;
constexpr size_t kZeroChunk = size_t{1} << 20;
// The first segment of a process is prepared by its first commit, so it is small: a short wait
// once, and short-lived processes (tests, tools) write little. Its successors, prepared on the
// checkpointer's thread once it is half full, have the configured size.
constexpr size_t kFirstSegment = size_t{1} << 20;

std::string hex16(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
    return buf;
}

std::optional<uint64_t> parse_hex16(std::string_view s) {
    if (s.size() != 16) return std::nullopt;
    uint64_t v = 0;
    for (const char c : s) {
        int d = 0;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else {
            return std::nullopt;
        }
        v = (v << 4) | static_cast<uint64_t>(d);
    }
    return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Journal::Journal(Disk& disk, const Layout& layout, int root_fd, JournalOptions options)
    : disk_(disk), layout_(layout), dir_(layout.journal_dir()), root_fd_(root_fd), options_(options) {
    if (!options_.enabled) {
        off_reason_ = "journal off (MACP_FILE_JOURNAL=off)";
        return;
    }
    if (options_.segment_bytes == 0) throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "journal segment size is 0");
    // The journal's promise rests on the checkpoint's syncfs: without it, no journal.
    if (!disk_.sync_filesystem(root_fd_, "the filesystem of " + layout_.root())) {
        off_reason_ = "journal off: this system offers no syncfs()";
        return;
    }
    enabled_ = true;
    if (options_.background) thread_ = std::thread([this] { run(); });
}

Journal::~Journal() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::string Journal::describe() const {
    if (!enabled_) return off_reason_;
    return "a write-ahead journal (one fdatasync of one file per group commit; every log synced by a syncfs "
           "checkpoint every " +
           std::to_string(options_.segment_bytes >> 10) + " KiB of journal)";
}

std::string Journal::segment_path(uint64_t seq) const {
    return join(dir_, hex16(seq) + kSegmentSuffix);
}

std::string Journal::free_path(uint64_t seq) const {
    return join(dir_, kFreePrefix + hex16(seq) + kSegmentSuffix);
}

// ---- start-up --------------------------------------------------------------------------------

std::vector<std::string> Journal::replay() {
    std::vector<std::string> repairs;
    const auto entries = list_dir(disk_, dir_);
    if (!entries) return repairs;

    std::map<uint64_t, std::string> segments;  // by sequence number: replay order
    bool dir_changed = false;
    for (const DirEntry& e : *entries) {
        if (!e.is_file) continue;
        const std::string_view name = e.name;
        if (ends_with(name, kTmpSuffix)) {
            if (remove_file(disk_, join(dir_, e.name))) {
                dir_changed = true;
                repairs.push_back("removed leftover journal/" + e.name);
            }
            continue;
        }
        if (!ends_with(name, kSegmentSuffix)) continue;
        const std::string_view stem = name.substr(0, name.size() - std::string_view(kSegmentSuffix).size());
        if (stem.rfind(kFreePrefix, 0) == 0) {
            if (const auto seq = parse_hex16(stem.substr(std::string_view(kFreePrefix).size()))) {
                max_seq_ = std::max(max_seq_, *seq);
                free_.push_back(*seq);
            }
        } else if (const auto seq = parse_hex16(stem)) {
            max_seq_ = std::max(max_seq_, *seq);
            segments.emplace(*seq, e.name);
        }
    }
    std::sort(free_.begin(), free_.end());

    // Read every segment's valid frames, oldest segment first. The buffers outlive the frames
    // that point into them.
    std::deque<std::string> buffers;
    std::vector<JournaledFrame> frames;
    for (const auto& [seq, name] : segments) {
        auto data = disk_.read_whole_file(join(dir_, name));
        if (!data) continue;
        buffers.push_back(std::move(*data));
        const std::string_view bytes = buffers.back();
        size_t pos = 0;
        size_t size = 0;
        while (const auto frame = decode_frame(bytes.substr(pos), seq, size)) {
            frames.push_back({*frame, name});
            pos += size;
        }
    }
    if (!frames.empty()) {
        const ReplayOutcome outcome = replay_frames(disk_, layout_, frames);
        repairs.insert(repairs.end(), outcome.repairs.begin(), outcome.repairs.end());
        // Frames whose bytes were already in a log may be there only in the page cache (the
        // process died, the machine did not): every log they touched must be durable before
        // the segments go.
        if (!disk_.sync_filesystem(root_fd_, "the filesystem of " + layout_.root())) {
            for (const std::string& path : outcome.touched_logs) {
                int err = 0;
                UniqueFd fd = disk_.open(path, O_RDONLY | O_CLOEXEC, err);
                if (!fd) throw_io("open " + path, err);
                disk_.sync_data(fd.get(), path);
            }
            for (const std::string& dir : outcome.created_in) sync_dir(disk_, dir);
        }
        repairs.push_back("journal: replayed " + std::to_string(frames.size()) + " records from " +
                          std::to_string(segments.size()) + " segment(s)");
    }
    // Retire every segment, oldest first: what they held is in the logs, on disk.
    for (const auto& [seq, name] : segments) {
        const std::string path = join(dir_, name);
        if (enabled_ && free_.size() < kMaxFree) {  // single-threaded here: no free_mu_ needed
            if (const int err = disk_.fs().rename(path, free_path(seq)); err != 0) {
                throw_io("rename " + path + " to " + free_path(seq), err);
            }
            free_.push_back(seq);
        } else {
            remove_file(disk_, path);
        }
        dir_changed = true;
    }
    if (!enabled_) {
        // The journal is off now: nothing will reuse the retired ones.
        for (const uint64_t seq : free_) remove_file(disk_, free_path(seq));
        dir_changed = dir_changed || !free_.empty();
        free_.clear();
    }
    if (dir_changed) sync_dir(disk_, dir_);
    return repairs;
}

// ---- commits -----------------------------------------------------------------------------------

void Journal::commit(const std::vector<Frame>& frames) {
    if (frames.empty()) return;
    std::unique_lock<std::mutex> lock(mu_);
    disk_.check_writable();
    size_t needed = 0;
    for (const Frame& f : frames) needed += kFramePrefix + kFrameBodyHeader + f.session_id.size() + f.record.size();
    ensure_active();
    if (active_->used > 0 && static_cast<size_t>(active_->used) + needed > active_->capacity) {
        rotate(lock, needed);
        ensure_active();  // a checkpoint may have retired the active segment while rotate waited
    }
    scratch_.clear();
    for (const Frame& f : frames) encode_frame(scratch_, active_->seq, f);
    write_frames(scratch_);
    disk_.sync_data(active_->fd.get(), active_->path);
    active_->used += static_cast<off_t>(scratch_.size());
    if (options_.background && !want_next_ && static_cast<size_t>(active_->used) >= active_->capacity / 2) {
        want_next_ = true;
        cv_.notify_all();
    }
}

void Journal::ensure_active() {
    if (active_) return;
    if (next_) {
        active_ = std::move(next_);
        next_.reset();
        want_next_ = false;
        cv_.notify_all();
    } else {
        open_first_segment();
    }
}

void Journal::open_first_segment() {
    make_dir_durable(disk_, dir_);
    active_ = prepare(++max_seq_, take_free(), std::min(kFirstSegment, options_.segment_bytes));
}

void Journal::rotate(std::unique_lock<std::mutex>& lock, size_t needed) {
    if (!options_.background) {
        pending_.push_back(std::move(*active_));
        active_.reset();
        try {
            retire(pending_);
        } catch (const sdk::Error&) {
            // What is left stays pending, oldest first, for the next rotation; a failed syncfs
            // has stopped the store and the prepare below fails with that.
        }
        active_ = prepare(++max_seq_, take_free(), options_.segment_bytes);
        return;
    }
    if (!next_) {
        const bool too_big = static_cast<size_t>(active_->used) + needed > kGrowthLimit * active_->capacity;
        want_next_ = true;
        if (prepare_failed_) {
            prepare_failed_ = false;  // ask again
            error_.reset();
        }
        cv_.notify_all();
        if (!too_big) return;  // keep growing the active segment until the next one is ready
        const uint64_t seen = active_->seq;
        // Or another commit rotated (or a checkpoint retired the segment) meanwhile: then the
        // segment this commit found full is no longer the one it will write to.
        cv_.wait(lock,
                 [&] { return next_.has_value() || error_.has_value() || stop_ || !active_ || active_->seq != seen; });
        if (!active_ || active_->seq != seen) return;
        if (!next_) {
            const std::string why = error_.value_or("the journal is shutting down");
            error_.reset();
            throw sdk::Error(MACP_STATUS_IO_ERROR, "journal: no next segment: " + why);
        }
    }
    pending_.push_back(std::move(*active_));
    active_ = std::move(next_);
    next_.reset();
    want_next_ = false;
    cv_.notify_all();
}

void Journal::write_frames(const std::string& bytes) {
    size_t done = 0;
    int err = 0;
    while (done < bytes.size()) {
        size_t n = 0;
        err = disk_.fs().pwrite(active_->fd.get(), std::string_view(bytes).substr(done),
                                active_->used + static_cast<off_t>(done), n);
        if (err == 0 && n == 0) err = EIO;
        if (err != 0) break;
        done += n;
    }
    if (err == 0) return;
    // The frames written so far are whole and valid: left there, a later, shorter commit would
    // not overwrite all of them and replay would resurrect records the caller was told failed.
    const std::string zeros(done, '\0');
    size_t undone = 0;
    while (undone < zeros.size()) {
        size_t n = 0;
        const int e = disk_.fs().pwrite(active_->fd.get(), std::string_view(zeros).substr(undone),
                                        active_->used + static_cast<off_t>(undone), n);
        if (e != 0 || n == 0) {
            disk_.stop("write of " + active_->path + " (and erasing the partial write)", err);
        }
        undone += n;
    }
    throw_io("write " + active_->path, err);
}

// ---- segments and checkpoints ----------------------------------------------------------------

Journal::Segment Journal::prepare(uint64_t seq, std::optional<uint64_t> recycled, size_t capacity) {
    Segment seg;
    seg.seq = seq;
    seg.path = segment_path(seq);
    const std::string from = recycled ? free_path(*recycled) : seg.path + kTmpSuffix;
    int err = 0;
    UniqueFd fd = disk_.open(from, recycled ? O_WRONLY | O_CLOEXEC : O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, err);
    if (!fd) throw_io(recycled ? "open " + from : "create " + from, err);
    off_t size = 0;
    if (const int e = disk_.fs().file_size(fd.get(), size); e != 0) throw_io("stat " + from, e);
    if (static_cast<size_t>(size) < capacity) {
        // Zero-fill (or top up a smaller recycled one): allocated, written blocks, so the
        // commits' fdatasync has no metadata to write.
        try {
            const std::string zeros(std::min(kZeroChunk, capacity), '\0');
            for (size_t at = static_cast<size_t>(size); at < capacity;) {
                const size_t n = std::min(capacity - at, zeros.size());
                size_t done = 0;
                while (done < n) {
                    size_t w = 0;
                    const int e = disk_.fs().pwrite(fd.get(), std::string_view(zeros).substr(done, n - done),
                                                    static_cast<off_t>(at + done), w);
                    if (e != 0) throw_io("write " + from, e);
                    if (w == 0) throw_io("write " + from, EIO);
                    done += w;
                }
                at += n;
            }
            disk_.sync_file(fd.get(), from);
        } catch (...) {
            fd.reset();
            if (!recycled) disk_.fs().unlink(from);
            throw;
        }
        size = static_cast<off_t>(capacity);
    }
    fd.reset();
    // A recycled segment's old frames carry an older sequence number: replay stops at the first.
    if (const int e = disk_.fs().rename(from, seg.path); e != 0) {
        if (!recycled) disk_.fs().unlink(from);
        throw_io("rename " + from + " to " + seg.path, e);
    }
    sync_dir(disk_, dir_);
    seg.fd = disk_.open(seg.path, O_RDWR | O_CLOEXEC, err);
    if (!seg.fd) throw_io("open " + seg.path, err);
    seg.capacity = static_cast<size_t>(size);
    return seg;
}

void Journal::retire(std::deque<Segment>& segments) {
    if (segments.empty()) return;
    // Everything written before this call, every log included, reaches the disk.
    if (!disk_.sync_filesystem(root_fd_, "the filesystem of " + layout_.root())) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, "syncfs of " + layout_.root() + " is no longer available");
    }
    while (!segments.empty()) {
        Segment& seg = segments.front();
        seg.fd.reset();
        bool keep = false;
        {
            std::lock_guard<std::mutex> lock(free_mu_);
            keep = free_.size() < kMaxFree;
        }
        if (keep) {
            if (const int err = disk_.fs().rename(seg.path, free_path(seg.seq)); err != 0) {
                throw_io("rename " + seg.path + " to " + free_path(seg.seq), err);
            }
            std::lock_guard<std::mutex> lock(free_mu_);
            free_.push_back(seg.seq);
        } else {
            remove_file(disk_, seg.path);
        }
        segments.pop_front();
    }
    sync_dir(disk_, dir_);
}

void Journal::put_back(std::deque<Segment>& segments) {
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) pending_.push_front(std::move(*it));
    segments.clear();
}

std::optional<uint64_t> Journal::take_free() {
    std::lock_guard<std::mutex> lock(free_mu_);
    if (free_.empty()) return std::nullopt;
    const uint64_t seq = free_.front();
    free_.pop_front();
    return seq;
}

void Journal::checkpoint() {
    if (!enabled_) return;
    std::lock_guard<std::mutex> ckpt(ckpt_mu_);
    std::deque<Segment> batch;
    {
        std::lock_guard<std::mutex> lock(mu_);
        disk_.check_writable();
        batch = std::move(pending_);
        pending_.clear();
        if (active_ && active_->used > 0) {
            batch.push_back(std::move(*active_));
            active_.reset();
            cv_.notify_all();  // a commit waiting for a rotation of that segment goes on
        }
    }
    try {
        retire(batch);
    } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        put_back(batch);  // still on disk, still the oldest: the next checkpoint tries again
        throw;
    }
}

void Journal::run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || !pending_.empty() || (want_next_ && !next_ && !prepare_failed_); });
        if (stop_) return;
        if (!pending_.empty()) {
            lock.unlock();
            {
                std::lock_guard<std::mutex> ckpt(ckpt_mu_);
                std::deque<Segment> batch;
                {
                    std::lock_guard<std::mutex> relock(mu_);
                    batch = std::move(pending_);
                    pending_.clear();
                }
                try {
                    retire(batch);
                } catch (const std::exception& e) {
                    std::lock_guard<std::mutex> relock(mu_);
                    put_back(batch);
                    error_ = std::string("checkpoint failed: ") + e.what();
                }
            }
            lock.lock();
            // A failed checkpoint is retried with the next full segment, not in a loop.
            if (error_) {
                cv_.notify_all();
                cv_.wait(lock, [&] { return stop_ || !error_; });
            }
            continue;
        }
        if (want_next_ && !next_ && !prepare_failed_) {
            const uint64_t seq = ++max_seq_;
            const std::optional<uint64_t> recycled = take_free();
            lock.unlock();
            std::optional<Segment> seg;
            std::string failure;
            try {
                seg = prepare(seq, recycled, options_.segment_bytes);
            } catch (const std::exception& e) {
                failure = e.what();
            }
            lock.lock();
            if (seg) {
                next_ = std::move(seg);
            } else {
                error_ = "preparing segment " + std::to_string(seq) + " failed: " + failure;
                prepare_failed_ = true;
            }
            cv_.notify_all();
        }
    }
}

}  // namespace macp::storage_file
