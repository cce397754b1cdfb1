// RocksDbStorage: see rocksdb_storage.hpp for the layout and README.md for the contract it keeps.
#include "rocksdb_storage.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <unordered_set>

namespace macp::storage_rocksdb {
namespace {

constexpr const char* kCfNames[] = {"sessions", "snapshots", "logs", "records"};

rocksdb::Slice slice(std::string_view v) {
    return {v.data(), v.size()};
}

bool starts_with(const rocksdb::Slice& s, const std::string& prefix) {
    return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

macp_status status_of(const rocksdb::Status& s) {
    return s.IsCorruption() ? MACP_STATUS_CORRUPT : MACP_STATUS_IO_ERROR;
}

// Reads an unsigned integer configuration value (megabytes, file counts).
std::uint64_t uint_key(const sdk::Config& config, const char* key, const char* fallback) {
    const std::string v = config.get_or(key, fallback);
    std::uint64_t n = 0;
    if (v.empty() || v.size() > 9) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         std::string(key) + " must be a number (0..999999999), got '" + v + "'");
    }
    for (const char c : v) {
        if (c < '0' || c > '9') {
            throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                             std::string(key) + " must be a non-negative integer, got '" + v + "'");
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

struct Tuning {
    std::uint64_t block_cache_mb;
    std::uint64_t write_buffer_mb;
    std::uint64_t max_open_files;
};

Tuning tuning(const sdk::Config& config) {
    Tuning t{uint_key(config, RocksDbStorage::kBlockCacheKey, RocksDbStorage::kDefaultBlockCacheMb),
             uint_key(config, RocksDbStorage::kWriteBufferKey, RocksDbStorage::kDefaultWriteBufferMb),
             uint_key(config, RocksDbStorage::kMaxOpenFilesKey, RocksDbStorage::kDefaultMaxOpenFiles)};
    if (t.write_buffer_mb == 0) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(RocksDbStorage::kWriteBufferKey) + " must be >= 1");
    }
    return t;
}

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// mkdir -p of the database's parent directories (RocksDB creates only the last component).
void make_parents(const std::string& path) {
    const std::string parent = parent_of(path);
    for (std::size_t pos = 1; pos <= parent.size(); ++pos) {
        if (pos != parent.size() && parent[pos] != '/') continue;
        const std::string prefix = parent.substr(0, pos);
        if (::mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
            throw sdk::Error(MACP_STATUS_IO_ERROR,
                             "rocksdb database " + path + ": cannot create " + prefix + ": " + std::strerror(errno));
        }
    }
}

void require_writable_dir(const std::string& dir, const std::string& what) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, what + " " + dir + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, what + " " + dir + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, what + " " + dir + " is not writable: " + std::strerror(errno));
    }
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::string log_prefix(std::string_view session_id) {
    std::string k;
    k.reserve(session_id.size() + 9);
    k.append(session_id);
    k.push_back('\0');
    return k;
}

std::string log_key(std::string_view session_id, std::uint64_t seq) {
    std::string k = log_prefix(session_id);
    put_be(k, seq, 8);
    return k;
}

std::string record_prefix(std::string_view ns) {
    std::string k;
    k.reserve(4 + ns.size());
    put_be(k, ns.size(), 4);
    k.append(ns);
    return k;
}

std::string record_key(std::string_view ns, std::string_view key) {
    std::string k = record_prefix(ns);
    k.append(key);
    return k;
}

std::string db_path(const sdk::Config& config) {
    std::string path = config.get_or(RocksDbStorage::kPathKey, "");
    if (path.empty()) {
        std::string dir = config.get_or(RocksDbStorage::kDataDirKey, RocksDbStorage::kDefaultDataDir);
        if (dir.empty()) {
            throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(RocksDbStorage::kPathKey) + " and " +
                                                               RocksDbStorage::kDataDirKey + " are both empty");
        }
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        path = dir == "/" ? "/rocksdb" : dir + "/rocksdb";
    }
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

RocksDbStorage::RocksDbStorage(const sdk::Config& config) : path_(db_path(config)), log_(config.logger()) {
    const Tuning t = tuning(config);
    make_parents(path_);

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.max_open_files = t.max_open_files == 0 ? -1 : static_cast<int>(t.max_open_files);
    db_options.keep_log_file_num = 5;
    db_options.paranoid_checks = true;
    // A torn WAL tail can only be a write that was never acknowledged (sync=true): drop it.
    db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;

    rocksdb::BlockBasedTableOptions table;
    if (t.block_cache_mb == 0) {
        table.no_block_cache = true;
    } else {
        table.block_cache = rocksdb::NewLRUCache(static_cast<std::size_t>(t.block_cache_mb) << 20);
    }
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.write_buffer_size = static_cast<std::size_t>(t.write_buffer_mb) << 20;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (const char* name : kCfNames) families.emplace_back(name, cf_options);

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(db_options, path_, families, &handles, &raw);
    if (!s.ok()) {
        std::string message = "rocksdb database " + path_ + ": cannot open: " + s.ToString();
        if (s.ToString().find("lock") != std::string::npos) {
            message += " (the database is locked: another process, or another instance, has it open)";
        }
        throw sdk::Error(status_of(s), message);
    }
    db_.reset(raw);
    // handles[0] is the default family (unused); ours follow in kCfNames order.
    default_handle_ = handles[0];
    handles_.assign(handles.begin() + 1, handles.end());
    log_.info("rocksdb " + path_ + ": opened (RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." +
              std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH) +
              "); durability: every acknowledged write is in a synced WAL (one WriteBatch with sync=true per "
              "call, WAL never disabled)");
}

RocksDbStorage::~RocksDbStorage() {
    if (!db_) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    if (default_handle_ != nullptr) db_->DestroyColumnFamilyHandle(default_handle_);
    const rocksdb::Status s = db_->Close();
    if (!s.ok()) log_.warn("rocksdb " + path_ + ": close: " + s.ToString());
    db_.reset();
}

void RocksDbStorage::check_config(const sdk::Config& config) {
    (void)tuning(config);
    const std::string path = db_path(config);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        require_writable_dir(path, "rocksdb database");
        return;
    }
    if (errno != ENOENT)
        throw sdk::Error(MACP_STATUS_IO_ERROR, "rocksdb database " + path + ": " + std::strerror(errno));
    // Not there yet: create() would make it, so the nearest existing ancestor must allow that.
    std::string ancestor = parent_of(path);
    while (::stat(ancestor.c_str(), &st) != 0 && errno == ENOENT && ancestor != "/" && ancestor != ".") {
        ancestor = parent_of(ancestor);
    }
    require_writable_dir(ancestor, "rocksdb database " + path + " does not exist and its parent");
}

void RocksDbStorage::write(rocksdb::WriteBatch& batch, const char* what) {
    rocksdb::WriteOptions options;
    options.sync = true;         // acknowledged = in the synced WAL
    options.disableWAL = false;  // never
    const rocksdb::Status s = db_->Write(options, &batch);
    if (!s.ok()) throw sdk::Error(status_of(s), "rocksdb " + path_ + ": " + what + ": " + s.ToString());
}

std::uint64_t RocksDbStorage::next_seq(const std::string& session_id) {
    {
        const std::lock_guard<std::mutex> lock(seq_mutex_);
        const auto it = next_seq_.find(session_id);
        if (it != next_seq_.end()) return it->second;
    }
    // Calls for one session are never concurrent, so nobody else fills this entry meanwhile.
    const std::string prefix = log_prefix(session_id);
    const std::string upper = session_id + '\x01';
    rocksdb::ReadOptions options;
    const rocksdb::Slice lower_bound(prefix);
    const rocksdb::Slice upper_bound(upper);
    options.iterate_lower_bound = &lower_bound;
    options.iterate_upper_bound = &upper_bound;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cf(kLogs)));
    it->SeekToLast();
    std::uint64_t next = 0;
    if (it->Valid()) {
        const rocksdb::Slice k = it->key();
        if (k.size() != prefix.size() + 8 || !starts_with(k, prefix)) {
            throw sdk::Error(MACP_STATUS_CORRUPT, "rocksdb " + path_ + ": malformed log key of session " + session_id);
        }
        for (std::size_t i = prefix.size(); i < k.size(); ++i) {
            next = (next << 8) | static_cast<unsigned char>(k.data()[i]);
        }
        ++next;
    } else if (!it->status().ok()) {
        throw sdk::Error(status_of(it->status()),
                         "rocksdb " + path_ + ": reading the log of " + session_id + ": " + it->status().ToString());
    }
    set_next_seq(session_id, next);
    return next;
}

void RocksDbStorage::set_next_seq(const std::string& session_id, std::uint64_t seq) {
    const std::lock_guard<std::mutex> lock(seq_mutex_);
    next_seq_[session_id] = seq;
}

void RocksDbStorage::forget_seq(std::string_view session_id) {
    const std::lock_guard<std::mutex> lock(seq_mutex_);
    next_seq_.erase(std::string(session_id));
}

void RocksDbStorage::for_each_log_entry(const std::string& session_id, const char* what,
                                        const std::function<void(const rocksdb::Iterator&)>& fn) {
    const std::string prefix = log_prefix(session_id);
    const std::string upper = session_id + '\x01';  // just past every "<id> 0x00 ..." key
    rocksdb::ReadOptions options;
    const rocksdb::Slice upper_bound(upper);
    options.iterate_upper_bound = &upper_bound;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cf(kLogs)));
    for (it->Seek(prefix); it->Valid(); it->Next()) fn(*it);
    if (!it->status().ok()) {
        throw sdk::Error(status_of(it->status()),
                         "rocksdb " + path_ + ": " + what + " of " + session_id + ": " + it->status().ToString());
    }
}

void RocksDbStorage::delete_log_into(rocksdb::WriteBatch& batch, const std::string& session_id) {
    for_each_log_entry(session_id, "reading the log",
                       [&](const rocksdb::Iterator& it) { batch.Delete(cf(kLogs), it.key()); });
}

void RocksDbStorage::create_session_storage(const std::string& session_id) {
    rocksdb::WriteBatch batch;
    batch.Put(cf(kSessions), session_id, rocksdb::Slice());
    write(batch, "create_session_storage");
}

void RocksDbStorage::save_session(const std::string& session_id, std::string_view snapshot) {
    rocksdb::WriteBatch batch;
    batch.Put(cf(kSessions), session_id, rocksdb::Slice());
    batch.Put(cf(kSnapshots), session_id, slice(snapshot));
    write(batch, "save_session");
}

std::optional<std::string> RocksDbStorage::load_session(const std::string& session_id) {
    std::string value;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kSnapshots), session_id, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw sdk::Error(status_of(s), "rocksdb " + path_ + ": load_session: " + s.ToString());
    return value;
}

void RocksDbStorage::delete_session(const std::string& session_id) {
    rocksdb::WriteBatch batch;
    batch.Delete(cf(kSessions), session_id);
    batch.Delete(cf(kSnapshots), session_id);
    delete_log_into(batch, session_id);
    try {
        write(batch, "delete_session");
    } catch (...) {
        forget_seq(session_id);
        throw;
    }
    set_next_seq(session_id, 0);
}

void RocksDbStorage::list_session_ids(const sdk::Emitter& out) {
    // Every write that gives a session a log or a snapshot also writes its marker, in the same batch.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kSessions)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out(std::string_view(it->key().data(), it->key().size()));
    if (!it->status().ok()) {
        throw sdk::Error(status_of(it->status()),
                         "rocksdb " + path_ + ": list_session_ids: " + it->status().ToString());
    }
}

void RocksDbStorage::scan_sessions(const sdk::ScanSink& out) {
    // The three families are keyed by session id first, so one forward iterator over each,
    // advanced in step (a merge join), visits every session's snapshot and contiguous log in a
    // single ordered pass: no lookup per session. One RocksDB snapshot keeps the three views
    // consistent with each other.
    struct Snapshot {
        rocksdb::DB* db;
        const rocksdb::Snapshot* snap;
        ~Snapshot() { db->ReleaseSnapshot(snap); }
    } snapshot{db_.get(), db_->GetSnapshot()};
    rocksdb::ReadOptions options;
    options.snapshot = snapshot.snap;
    options.readahead_size = 2U << 20U;  // a sequential scan: read ahead in large blocks
    options.fill_cache = false;          // one pass over everything must not evict the working set
    std::unique_ptr<rocksdb::Iterator> ids(db_->NewIterator(options, cf(kSessions)));
    std::unique_ptr<rocksdb::Iterator> snaps(db_->NewIterator(options, cf(kSnapshots)));
    std::unique_ptr<rocksdb::Iterator> logs(db_->NewIterator(options, cf(kLogs)));
    auto check = [&](const rocksdb::Iterator& it) {
        if (!it.status().ok()) {
            throw sdk::Error(status_of(it.status()), "rocksdb " + path_ + ": scan_sessions: " + it.status().ToString());
        }
    };
    snaps->SeekToFirst();
    logs->SeekToFirst();
    for (ids->SeekToFirst(); ids->Valid(); ids->Next()) {
        const std::string id(ids->key().data(), ids->key().size());
        while (snaps->Valid() && snaps->key().compare(id) < 0) snaps->Next();
        check(*snaps);
        std::optional<std::string_view> snap;
        if (snaps->Valid() && snaps->key() == rocksdb::Slice(id))
            snap = std::string_view(snaps->value().data(), snaps->value().size());
        const bool wants_log = out.begin_session(id, snap);
        const std::string prefix = log_prefix(id);
        if (!wants_log) {
            // Skip the session's log with one seek instead of reading it.
            const std::string past = id + '\x01';
            if (logs->Valid() && logs->key().compare(past) < 0) logs->Seek(past);
            check(*logs);
            continue;
        }
        if (logs->Valid() && logs->key().compare(prefix) < 0) logs->Seek(prefix);
        for (; logs->Valid() && starts_with(logs->key(), prefix); logs->Next()) {
            out.log_record(std::string_view(logs->value().data(), logs->value().size()));
        }
        check(*logs);
    }
    check(*ids);
}

void RocksDbStorage::append_log_entry(const std::string& session_id, std::string_view record) {
    sdk::check_record(record);
    const std::uint64_t seq = next_seq(session_id);
    rocksdb::WriteBatch batch;
    if (seq == 0) batch.Put(cf(kSessions), session_id, rocksdb::Slice());
    batch.Put(cf(kLogs), log_key(session_id, seq), slice(record));
    try {
        write(batch, "append_log_entry");
    } catch (...) {
        forget_seq(session_id);  // the outcome is unknown: reload from the database next time
        throw;
    }
    set_next_seq(session_id, seq + 1);
}

void RocksDbStorage::load_log(const std::string& session_id, const sdk::Emitter& out) {
    for_each_log_entry(session_id, "load_log", [&](const rocksdb::Iterator& it) {
        out(std::string_view(it.value().data(), it.value().size()));
    });
}

void RocksDbStorage::put_record(const std::string& ns, const std::string& key, std::string_view blob) {
    rocksdb::WriteBatch batch;
    batch.Put(cf(kRecords), record_key(ns, key), slice(blob));
    write(batch, "put_record");
}

void RocksDbStorage::delete_record(const std::string& ns, const std::string& key) {
    rocksdb::WriteBatch batch;
    batch.Delete(cf(kRecords), record_key(ns, key));
    write(batch, "delete_record");
}

void RocksDbStorage::list_records(const std::string& ns, const sdk::Emitter& out) {
    const std::string prefix = record_prefix(ns);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kRecords)));
    for (it->Seek(prefix); it->Valid() && starts_with(it->key(), prefix); it->Next()) {
        out(std::string_view(it->key().data() + prefix.size(), it->key().size() - prefix.size()));
        out(std::string_view(it->value().data(), it->value().size()));
    }
    if (!it->status().ok()) {
        throw sdk::Error(status_of(it->status()), "rocksdb " + path_ + ": list_records: " + it->status().ToString());
    }
}

// One WriteBatch, one synced WAL write, for every session of the batch. A bad record fails alone
// (and its session's later items); a failed Write throws, which fails every item.
void RocksDbStorage::append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& status,
                                      const sdk::CallContext& call) {
    std::unordered_map<std::string_view, std::uint64_t> next;
    std::vector<std::size_t> written;
    rocksdb::WriteBatch batch;
    const std::vector<bool> writable = sdk::screen_batch(items, status, call);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!writable[i]) continue;
        const std::string_view sid = items[i].session_id;
        auto it = next.find(sid);
        if (it == next.end()) {
            const std::string id(sid);
            const std::uint64_t seq = next_seq(id);
            if (seq == 0) batch.Put(cf(kSessions), id, rocksdb::Slice());
            it = next.emplace(sid, seq).first;
        }
        batch.Put(cf(kLogs), log_key(sid, it->second++), slice(items[i].record));
        written.push_back(i);
    }
    if (written.empty()) return;
    try {
        write(batch, "append_log_batch");
    } catch (...) {
        for (const auto& [sid, seq] : next) forget_seq(sid);
        throw;
    }
    for (const auto& [sid, seq] : next) set_next_seq(std::string(sid), seq);
    for (const std::size_t i : written) status[i] = MACP_STATUS_OK;
}

void RocksDbStorage::replace_log(const std::string& session_id, const std::vector<std::string_view>& records) {
    for (const auto r : records) sdk::check_record(r);
    // One batch: delete the old entries, write the new ones from sequence 0. Deletes precede the
    // puts, so a key present in both ends up with the new record.
    rocksdb::WriteBatch batch;
    delete_log_into(batch, session_id);
    batch.Put(cf(kSessions), session_id, rocksdb::Slice());
    for (std::size_t i = 0; i < records.size(); ++i) batch.Put(cf(kLogs), log_key(session_id, i), slice(records[i]));
    try {
        write(batch, "replace_log");
    } catch (...) {
        forget_seq(session_id);
        throw;
    }
    set_next_seq(session_id, records.size());
}

void RocksDbStorage::flush() {
    // Every acknowledged write is already in the synced WAL; flushing the memtables only makes the
    // next start-up faster (no WAL replay).
    rocksdb::Status s = db_->FlushWAL(true);
    if (s.ok()) s = db_->Flush(rocksdb::FlushOptions(), handles_);
    if (!s.ok()) throw sdk::Error(status_of(s), "rocksdb " + path_ + ": flush: " + s.ToString());
}

std::string RocksDbStorage::health() {
    std::uint64_t background_errors = 0;
    if (db_->GetIntProperty(rocksdb::DB::Properties::kBackgroundErrors, &background_errors) && background_errors > 0) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, "rocksdb " + path_ + ": " + std::to_string(background_errors) +
                                                   " background error(s) reported by RocksDB (see " + path_ +
                                                   "/LOG); writes may be stopped");
    }
    return "rocksdb " + path_ +
           ": every acknowledged write is in a synced WAL (WriteBatch with sync=true, WAL never disabled)";
}

void RocksDbStorage::recover(const sdk::Emitter& /*repairs*/) {
    // Nothing to repair: RocksDB replays its WAL at open and drops a torn tail, which can only be a
    // write that was never acknowledged (point-in-time recovery).
}

}  // namespace macp::storage_rocksdb
