// RocksDbStorage: the storage-rocksdb backend (issue #10), written against the plugin SDK only.
//
// One RocksDB database, four column families (see README.md "Layout"):
//   sessions   <session id>                                  -> ""         (the session exists)
//   snapshots  <session id>                                  -> snapshot bytes
//   logs       <session id> 0x00 <big-endian uint64 seq>     -> one record (one session's log is
//                                                               contiguous and in append order)
//   records    <big-endian uint32 len(ns)> <ns> <key>        -> blob       (namespaces never overlap)
// Every write that reports OK went through one WriteBatch written with WriteOptions::sync = true:
// it is in the synced write-ahead log before the call returns. The WAL is never disabled.
#ifndef MACP_STORAGE_ROCKSDB_ROCKSDB_STORAGE_HPP
#define MACP_STORAGE_ROCKSDB_ROCKSDB_STORAGE_HPP

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <macp/plugin/sdk/storage.hpp>

namespace macp::storage_rocksdb {

// Key encodings (exposed for the tests).
std::string log_prefix(std::string_view session_id);                  // id 0x00
std::string log_key(std::string_view session_id, std::uint64_t seq);  // id 0x00 BE64(seq)
std::string record_prefix(std::string_view ns);                       // BE32(len) ns
std::string record_key(std::string_view ns, std::string_view key);    // BE32(len) ns key

// The database directory a configuration selects: MACP_ROCKSDB_PATH, or <MACP_DATA_DIR>/rocksdb
// when that is empty or unset.
std::string db_path(const sdk::Config& config);

class RocksDbStorage {
public:
    static constexpr const char* kDataDirKey = "MACP_DATA_DIR";
    static constexpr const char* kDefaultDataDir = ".macp-data";
    static constexpr const char* kPathKey = "MACP_ROCKSDB_PATH";
    static constexpr const char* kBlockCacheKey = "MACP_ROCKSDB_BLOCK_CACHE_MB";
    static constexpr const char* kDefaultBlockCacheMb = "64";
    static constexpr const char* kWriteBufferKey = "MACP_ROCKSDB_WRITE_BUFFER_MB";
    static constexpr const char* kDefaultWriteBufferMb = "32";
    static constexpr const char* kMaxOpenFilesKey = "MACP_ROCKSDB_MAX_OPEN_FILES";
    static constexpr const char* kDefaultMaxOpenFiles = "512";

    static constexpr std::uint32_t macp_optional_ops = sdk::op::append_log_batch | sdk::op::replace_log |
                                                       sdk::op::flush | sdk::op::health | sdk::op::recover |
                                                       sdk::op::check_config | sdk::op::scan_sessions;

    explicit RocksDbStorage(const sdk::Config& config);
    ~RocksDbStorage();
    RocksDbStorage(const RocksDbStorage&) = delete;
    RocksDbStorage& operator=(const RocksDbStorage&) = delete;

    static void check_config(const sdk::Config& config);

    void create_session_storage(const std::string& session_id);
    void save_session(const std::string& session_id, std::string_view snapshot);
    std::optional<std::string> load_session(const std::string& session_id);
    void delete_session(const std::string& session_id);
    void list_session_ids(const sdk::Emitter& out);
    void append_log_entry(const std::string& session_id, std::string_view record);
    void load_log(const std::string& session_id, const sdk::Emitter& out);
    void put_record(const std::string& ns, const std::string& key, std::string_view blob);
    void delete_record(const std::string& ns, const std::string& key);
    void list_records(const std::string& ns, const sdk::Emitter& out);

    void append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& status,
                          const sdk::CallContext& call);
    void replace_log(const std::string& session_id, const std::vector<std::string_view>& records);
    void flush();
    std::string health();
    void recover(const sdk::Emitter& repairs);
    // Every session in one ordered pass over the sessions, snapshots and logs families (ABI 1.1).
    void scan_sessions(const sdk::ScanSink& out);

    [[nodiscard]] const std::string& path() const { return path_; }
    // For the tests.
    [[nodiscard]] rocksdb::DB* db() const { return db_.get(); }
    [[nodiscard]] rocksdb::ColumnFamilyHandle* logs_family() const { return handles_[kLogs]; }

private:
    enum Cf : std::size_t { kSessions = 0, kSnapshots, kLogs, kRecords, kCfCount };

    rocksdb::ColumnFamilyHandle* cf(Cf which) const { return handles_[which]; }
    // Writes `batch` with sync=true; throws IO_ERROR (naming the path and RocksDB's status).
    void write(rocksdb::WriteBatch& batch, const char* what);
    // The next sequence number of a session's log: cached, else found by one reverse seek.
    std::uint64_t next_seq(const std::string& session_id);
    void set_next_seq(const std::string& session_id, std::uint64_t seq);
    void forget_seq(std::string_view session_id);
    // Calls fn for every log entry of a session, in sequence order; throws on a read error.
    void for_each_log_entry(const std::string& session_id, const char* what,
                            const std::function<void(const rocksdb::Iterator&)>& fn);
    // Deletes every log entry of a session into `batch` (point deletes of the stored keys).
    void delete_log_into(rocksdb::WriteBatch& batch, const std::string& session_id);

    std::string path_;
    sdk::Logger log_;
    std::unique_ptr<rocksdb::DB> db_;
    rocksdb::ColumnFamilyHandle* default_handle_ = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // in Cf order

    std::mutex seq_mutex_;  // guards next_seq_ only; never held across a RocksDB call
    std::unordered_map<std::string, std::uint64_t> next_seq_;
};

}  // namespace macp::storage_rocksdb

#endif  // MACP_STORAGE_ROCKSDB_ROCKSDB_STORAGE_HPP
