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

FileStorage::FileStorage(const sdk::Config& config) : FileStorage(config, std::make_shared<PosixFs>()) {}

FileStorage::FileStorage(const sdk::Config& config, std::shared_ptr<Fs> fs)
    : disk_(std::move(fs)),
      layout_(open_data_dir(disk_, config.get_or(kDataDirKey, kDefaultDataDir))),
      logs_(kOpenLogLimit),
      registry_(disk_, layout_.registry_dir()) {
    int err = 0;
    root_fd_ = disk_.open(layout_.root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, err);
    if (!root_fd_) throw_io("open " + layout_.root(), err);
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
        disk_.sync_data(log->fd.get(), log->path);
    } catch (...) {
        roll_back(disk_, *log, before);
        logs_.invalidate(session_id);
        throw;
    }
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
    return "file storage at " + layout_.root() +
           "; every acknowledged write is synced to disk (fdatasync; one syncfs per multi-session group "
           "commit); a failed sync stops the store until restart";
}

void FileStorage::recover(const sdk::Emitter& repairs) {
    disk_.check_writable();
    // Cached handles remember log sizes that a tail repair is about to change.
    logs_.clear();
    recover_data_dir(disk_, layout_, repairs);
}

}  // namespace macp::storage_file
