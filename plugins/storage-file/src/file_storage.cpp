#include "file_storage.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "fs_ops.hpp"
#include "log_file.hpp"
#include "recovery.hpp"
#include "storage_version.hpp"

namespace macp::storage_file {
namespace {

void require_writable(Disk& disk, const std::string& dir) {
    if (const int err = disk.fs().access(dir, W_OK | X_OK); err != 0) {
        throw_io("data directory " + dir + " is not writable", err);
    }
}

}  // namespace

std::string FileStorage::open_data_dir(Disk& disk, const std::string& configured) {
    if (configured.empty()) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(kDataDirKey) + " is empty");
    }
    make_dirs(disk, configured);
    // Resolve once, now: a relative default must not change meaning if the process later
    // changes its working directory, and health() reports the real location.
    std::string root;
    if (const int err = disk.fs().realpath(configured, root); err != 0) {
        throw_io("resolve data directory " + configured, err);
    }
    const Layout layout(root);
    require_writable(disk, root);
    ensure_storage_version(disk, root);
    make_dir_durable(disk, layout.sessions_dir());
    require_writable(disk, layout.sessions_dir());
    // registry/ is made by the first put_record: opening a data directory written by the reference
    // runtime (which has none) must not change it, e.g. as a migration source (issue #10).
    if (exists(disk, layout.registry_dir())) require_writable(disk, layout.registry_dir());
    return root;
}

UniqueFd FileStorage::open_root(Disk& disk, const std::string& root) {
    int err = 0;
    UniqueFd fd = disk.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, err);
    if (!fd) throw_io("open " + root, err);
    return fd;
}

JournalOptions FileStorage::journal_options(const sdk::Config& config) {
    JournalOptions options;
    const std::string on = config.get_or(kJournalKey, "on");
    if (on == "on" || on == "1" || on == "true") {
        options.enabled = true;
    } else if (on == "off" || on == "0" || on == "false") {
        options.enabled = false;
    } else {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(kJournalKey) + "=" + on + ": expected on or off");
    }
    const std::string mb = config.get_or(kJournalSegmentKey, kDefaultJournalSegmentMb);
    size_t value = 0;
    bool ok = !mb.empty() && mb.size() <= 4;
    for (const char c : mb) {
        if (c < '0' || c > '9') ok = false;
        if (ok) value = value * 10 + static_cast<size_t>(c - '0');
    }
    if (!ok || value < 1 || value > 1024) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         std::string(kJournalSegmentKey) + "=" + mb + ": expected a whole number of MiB, 1 to 1024");
    }
    options.segment_bytes = value << 20;
    return options;
}

FileStorage::FileStorage(const sdk::Config& config) : FileStorage(config, std::make_shared<PosixFs>()) {}

FileStorage::FileStorage(const sdk::Config& config, std::shared_ptr<Fs> fs, std::optional<JournalOptions> journal)
    : disk_(std::move(fs)),
      layout_(open_data_dir(disk_, config.get_or(kDataDirKey, kDefaultDataDir))),
      logs_(kOpenLogLimit),
      registry_(disk_, layout_.registry_dir()),
      root_fd_(open_root(disk_, layout_.root())),
      journal_(disk_, layout_, root_fd_.get(), journal ? *journal : journal_options(config)) {
    // Before anything reads a log: what a crash left only in the journal goes back into them.
    replay_repairs_ = journal_.replay();
}

void FileStorage::ensure_session_dir(const std::string& session_id) {
    make_dir_durable(disk_, layout_.session_dir(session_id));
}

void FileStorage::create_session_storage(const std::string& session_id) {
    validate_session_id(session_id);
    disk_.check_writable();
    make_dir(disk_, layout_.session_dir(session_id));
    // Always sync: a retry after a failed sync finds the directory already there and must still
    // make it durable before reporting success.
    sync_dir(disk_, layout_.sessions_dir());
}

void FileStorage::save_session(const std::string& session_id, std::string_view snapshot) {
    validate_session_id(session_id);
    disk_.check_writable();
    ensure_session_dir(session_id);
    atomic_write(disk_, layout_.session_dir(session_id), kSnapshotFile, snapshot);
}

std::optional<std::string> FileStorage::load_session(const std::string& session_id) {
    validate_session_id(session_id);
    return disk_.read_whole_file(join(layout_.session_dir(session_id), kSnapshotFile));
}

void FileStorage::delete_session(const std::string& session_id) {
    validate_session_id(session_id);
    disk_.check_writable();
    logs_.invalidate(session_id);
    if (exists(disk_, layout_.session_dir(session_id))) reset_in_journal(session_id);
    remove_tree(disk_, layout_.session_dir(session_id));
    // Always sync, like create: a retry after a failed sync finds nothing left to remove but
    // must not report the delete done before it is durable.
    sync_dir(disk_, layout_.sessions_dir());
}

void FileStorage::list_session_ids(const sdk::Emitter& out) {
    const auto entries = list_dir(disk_, layout_.sessions_dir());
    if (!entries) throw_io("list " + layout_.sessions_dir(), ENOENT);
    for (const DirEntry& e : *entries) {
        if (e.is_dir && e.name.front() != '.') out(e.name);
    }
}

std::shared_ptr<LogHandle> FileStorage::log_handle(const std::string& session_id) {
    return logs_.acquire(session_id, [&] {
        ensure_session_dir(session_id);
        return open_log_for_append(disk_, layout_.log_path(session_id));
    });
}

void FileStorage::append_log_entry(const std::string& session_id, std::string_view record) {
    validate_session_id(session_id);
    const std::string line = frame_record(record);
    disk_.check_writable();
    const auto log = log_handle(session_id);
    const off_t before = log->size;
    try {
        append_line(disk_, *log, line);
        if (journal_.enabled()) {
            journal_.commit({Frame{FrameKind::append, session_id, before, record}});
        } else {
            disk_.sync_data(log->fd.get(), log->path);
        }
    } catch (...) {
        roll_back(disk_, *log, before);
        logs_.invalidate(session_id);
        throw;
    }
}

void FileStorage::reset_in_journal(const std::string& session_id) {
    if (!journal_.enabled()) return;
    // The log's records, journaled or not, must be on disk before the reset frame makes replay
    // skip their frames: if the replace or delete then does not happen, the old log is whole.
    int err = 0;
    const std::string path = layout_.log_path(session_id);
    UniqueFd fd = disk_.open(path, O_RDONLY | O_CLOEXEC, err);
    if (fd) {
        disk_.sync_data(fd.get(), path);
    } else if (err != ENOENT) {
        throw_io("open " + path, err);
    }
    journal_.commit({Frame{FrameKind::reset, session_id, 0, {}}});
}

void FileStorage::load_log(const std::string& session_id, const sdk::Emitter& out) {
    validate_session_id(session_id);
    read_complete_lines(disk_, layout_.log_path(session_id), [&](std::string_view line) { out(line); });
}

void FileStorage::replace_log(const std::string& session_id, const std::vector<std::string_view>& records) {
    validate_session_id(session_id);
    std::string contents;
    for (const std::string_view record : records) contents += frame_record(record);
    disk_.check_writable();
    // The cached descriptor would keep appending to the replaced (unlinked) file.
    logs_.invalidate(session_id);
    ensure_session_dir(session_id);
    reset_in_journal(session_id);
    atomic_write(disk_, layout_.session_dir(session_id), kLogFile, contents);
}

void FileStorage::put_record(const std::string& ns, const std::string& key, std::string_view blob) {
    disk_.check_writable();
    registry_.put(ns, key, blob);
}

void FileStorage::delete_record(const std::string& ns, const std::string& key) {
    disk_.check_writable();
    registry_.remove(ns, key);
}

void FileStorage::list_records(const std::string& ns, const sdk::Emitter& out) {
    registry_.list(ns, out);
}

void FileStorage::flush() {
    // Appends are synced before they return, so normally nothing is pending; syncing the open
    // logs anyway keeps flush an honest barrier at shutdown and costs little. A failure stops
    // the store, so the remaining logs fail fast with the same error.
    disk_.check_writable();
    // The journal's checkpoint syncs every log at once and empties the journal, leaving a data
    // directory the reference runtime could open too.
    if (journal_.enabled()) {
        journal_.checkpoint();
        return;
    }
    std::optional<sdk::Error> first_failure;
    for (const auto& log : logs_.handles()) {
        try {
            disk_.sync_data(log->fd.get(), log->path);
        } catch (const sdk::Error& e) {
            if (!first_failure) first_failure = e;
        }
    }
    if (first_failure) throw *first_failure;
}

void FileStorage::probe_write() {
    std::lock_guard<std::mutex> lock(probe_mu_);
    const std::string path = join(layout_.root(), kHealthProbeFile);
    Fs& fs = disk_.fs();
    int err = 0;
    UniqueFd fd = disk_.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, err);
    if (!fd) throw_io("create " + path, err);
    // A fresh file each time: rewriting the blocks of an existing one would succeed on a full
    // disk. Not the fail-stop syncs of disk_: the probe's bytes are never acknowledged to
    // anyone, so a failed probe only reports, and the next one tries again.
    std::string failed;
    try {
        disk_.write_all(fd.get(), "health probe\n", path);
        if (const int e = fs.fdatasync(fd.get()); e != 0) throw_io("fdatasync " + path, e);
    } catch (const sdk::Error& e) {
        failed = e.what();
    }
    fd.reset();
    const int removed = fs.unlink(path);
    if (!failed.empty()) throw sdk::Error(MACP_STATUS_IO_ERROR, failed);
    if (removed != 0 && removed != ENOENT) throw_io("remove " + path, removed);
}

std::string FileStorage::health() {
    if (const auto reason = disk_.stop_reason()) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, "file storage at " + layout_.root() + ": " + *reason);
    }
    try {
        for (const std::string& dir : {layout_.root(), layout_.sessions_dir()}) require_writable(disk_, dir);
        if (exists(disk_, layout_.registry_dir())) require_writable(disk_, layout_.registry_dir());
        probe_write();
    } catch (const sdk::Error& e) {
        throw sdk::Error(e.status(), "file storage at " + layout_.root() + " cannot write: " + e.what());
    }
    const std::string how =
        journal_.enabled() ? journal_.describe()
                           : journal_.describe() + "; fdatasync per log, one syncfs per multi-session group commit";
    return "file storage at " + layout_.root() + "; every acknowledged write is synced to disk through " + how +
           "; a failed sync stops the store until restart";
}

void FileStorage::recover(const sdk::Emitter& repairs) {
    disk_.check_writable();
    // Cached handles remember log sizes that a tail repair is about to change.
    logs_.clear();
    for (const std::string& line : replay_repairs_) repairs(line);
    replay_repairs_.clear();
    recover_data_dir(disk_, layout_, repairs);
}

}  // namespace macp::storage_file
