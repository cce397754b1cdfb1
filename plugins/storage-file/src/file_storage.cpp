#include "file_storage.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

#include "fs_ops.hpp"
#include "log_file.hpp"
#include "posix_io.hpp"
#include "recovery.hpp"
#include "storage_version.hpp"

namespace macp::storage_file {
namespace {

void require_writable(const std::string& dir) {
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        throw_io("data directory " + dir + " is not writable", errno);
    }
}

}  // namespace

std::string FileStorage::open_data_dir(const std::string& configured) {
    if (configured.empty()) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(kDataDirKey) + " is empty");
    }
    make_dirs(configured);
    // Resolve once, now: a relative default must not change meaning if the process later
    // changes its working directory, and health() reports the real location.
    std::unique_ptr<char, decltype(&std::free)> abs(::realpath(configured.c_str(), nullptr), &std::free);
    if (!abs) throw_io("resolve data directory " + configured, errno);
    std::string root = abs.get();

    const Layout layout(root);
    require_writable(root);
    ensure_storage_version(root);
    for (const std::string& dir : {layout.sessions_dir(), layout.registry_dir()}) {
        if (make_dir(dir)) sync_dir(root);
        require_writable(dir);
    }
    return root;
}

FileStorage::FileStorage(const sdk::Config& config)
    : layout_(open_data_dir(config.get_or(kDataDirKey, kDefaultDataDir))),
      logs_(kOpenLogLimit),
      registry_(layout_.registry_dir()) {}

void FileStorage::ensure_session_dir(const std::string& session_id) {
    if (make_dir(layout_.session_dir(session_id))) sync_dir(layout_.sessions_dir());
}

void FileStorage::create_session_storage(const std::string& session_id) {
    validate_session_id(session_id);
    make_dir(layout_.session_dir(session_id));
    // Always sync: a retry after a failed sync finds the directory already there and must still
    // make it durable before reporting success.
    sync_dir(layout_.sessions_dir());
}

void FileStorage::save_session(const std::string& session_id, std::string_view snapshot) {
    validate_session_id(session_id);
    ensure_session_dir(session_id);
    atomic_write(layout_.session_dir(session_id), kSnapshotFile, snapshot);
}

std::optional<std::string> FileStorage::load_session(const std::string& session_id) {
    validate_session_id(session_id);
    return read_whole_file(join(layout_.session_dir(session_id), kSnapshotFile));
}

void FileStorage::delete_session(const std::string& session_id) {
    validate_session_id(session_id);
    logs_.invalidate(session_id);
    if (remove_tree(layout_.session_dir(session_id))) sync_dir(layout_.sessions_dir());
}

void FileStorage::list_session_ids(const sdk::Emitter& out) {
    const auto entries = list_dir(layout_.sessions_dir());
    if (!entries) throw_io("list " + layout_.sessions_dir(), ENOENT);
    for (const DirEntry& e : *entries) {
        if (e.is_dir && e.name.front() != '.') out(e.name);
    }
}

std::shared_ptr<LogHandle> FileStorage::log_handle(const std::string& session_id) {
    return logs_.acquire(session_id, [&] {
        ensure_session_dir(session_id);
        return open_log_for_append(layout_.session_dir(session_id), layout_.log_path(session_id));
    });
}

void FileStorage::append_log_entry(const std::string& session_id, std::string_view record) {
    validate_session_id(session_id);
    const std::string line = frame_record(record);
    const auto log = log_handle(session_id);
    const off_t before = log->size;
    try {
        append_line(*log, line);
        sync_data(log->fd.get(), log->path);
    } catch (...) {
        roll_back(*log, before);
        logs_.invalidate(session_id);
        throw;
    }
}

void FileStorage::load_log(const std::string& session_id, const sdk::Emitter& out) {
    validate_session_id(session_id);
    read_complete_lines(layout_.log_path(session_id), [&](std::string_view line) { out(line); });
}

void FileStorage::replace_log(const std::string& session_id, const std::vector<std::string_view>& records) {
    validate_session_id(session_id);
    std::string contents;
    for (const std::string_view record : records) contents += frame_record(record);
    // The cached descriptor would keep appending to the replaced (unlinked) file.
    logs_.invalidate(session_id);
    ensure_session_dir(session_id);
    atomic_write(layout_.session_dir(session_id), kLogFile, contents);
}

void FileStorage::put_record(const std::string& ns, const std::string& key, std::string_view blob) {
    registry_.put(ns, key, blob);
}

void FileStorage::delete_record(const std::string& ns, const std::string& key) {
    registry_.remove(ns, key);
}

void FileStorage::list_records(const std::string& ns, const sdk::Emitter& out) {
    registry_.list(ns, out);
}

void FileStorage::flush() {
    // Appends are synced before they return, so normally nothing is pending; syncing the open
    // logs anyway keeps flush an honest barrier at shutdown and costs little.
    std::optional<sdk::Error> first_failure;
    for (const auto& log : logs_.handles()) {
        try {
            sync_data(log->fd.get(), log->path);
        } catch (const sdk::Error& e) {
            if (!first_failure) first_failure = e;
        }
    }
    if (first_failure) throw *first_failure;
}

std::string FileStorage::health() {
    struct stat st {};
    if (::stat(layout_.sessions_dir().c_str(), &st) != 0) {
        throw_io("stat " + layout_.sessions_dir(), errno);
    }
    require_writable(layout_.sessions_dir());
    return "file storage at " + layout_.root() + "; every acknowledged write is synced to disk (fdatasync; one syncfs per multi-session group commit)";
}

void FileStorage::recover(const sdk::Emitter& repairs) {
    // Cached handles remember log sizes that a tail repair is about to change.
    logs_.clear();
    recover_data_dir(layout_, repairs);
}

}  // namespace macp::storage_file
