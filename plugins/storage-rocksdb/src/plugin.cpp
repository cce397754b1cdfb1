// Exports macp_plugin_entry_v1 for the storage-rocksdb plugin.
#include "rocksdb_storage.hpp"

namespace {

using macp::storage_rocksdb::RocksDbStorage;

const macp_config_key kConfigKeys[] = {
    macp::sdk::config_key(RocksDbStorage::kDataDirKey, RocksDbStorage::kDefaultDataDir,
                          "Data directory; the database is <MACP_DATA_DIR>/rocksdb unless MACP_ROCKSDB_PATH is set",
                          MACP_CONFIG_PATH),
    macp::sdk::config_key(RocksDbStorage::kPathKey, "",
                          "RocksDB database directory (created if missing); empty = <MACP_DATA_DIR>/rocksdb",
                          MACP_CONFIG_PATH),
    macp::sdk::config_key(RocksDbStorage::kBlockCacheKey, RocksDbStorage::kDefaultBlockCacheMb,
                          "Shared LRU block cache for reads, in MiB (0 = no block cache)", 0),
    macp::sdk::config_key(RocksDbStorage::kWriteBufferKey, RocksDbStorage::kDefaultWriteBufferMb,
                          "Memtable size per column family before it is flushed to disk, in MiB", 0),
    macp::sdk::config_key(RocksDbStorage::kMaxOpenFilesKey, RocksDbStorage::kDefaultMaxOpenFiles,
                          "Table files RocksDB keeps open (0 = unlimited)", 0),
};

}  // namespace

MACP_STORAGE_PLUGIN(RocksDbStorage, "rocksdb", "1.0.0",
                    "Embedded RocksDB database: one synced WAL write per batch of acknowledged writes",
                    MACP_PLUGIN_FLAG_THREAD_SAFE, kConfigKeys)
