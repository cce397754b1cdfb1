// Exports macp_plugin_entry_v1 for the storage-file plugin.
#include "file_storage.hpp"

namespace {

const macp_config_key kConfigKeys[] = {
    macp::sdk::config_key(macp::storage_file::FileStorage::kDataDirKey,
                          macp::storage_file::FileStorage::kDefaultDataDir,
                          "Directory holding session snapshots, append-only logs and registries; "
                          "created if missing",
                          MACP_CONFIG_PATH),
    macp::sdk::config_key(macp::storage_file::FileStorage::kJournalKey, "on",
                          "Write-ahead journal: on (one fdatasync of one file per group commit, logs synced "
                          "at checkpoints) or off (every log synced at each commit)"),
    macp::sdk::config_key(macp::storage_file::FileStorage::kJournalSegmentKey,
                          macp::storage_file::FileStorage::kDefaultJournalSegmentMb,
                          "Size of a journal segment in MiB (1-1024); a checkpoint syncs every log once per "
                          "segment"),
};

}  // namespace

MACP_STORAGE_PLUGIN(macp::storage_file::FileStorage, "file", "1.0.0",
                    "Files on local disk: one directory per session and a write-ahead journal, every write synced",
                    MACP_PLUGIN_FLAG_THREAD_SAFE, kConfigKeys)
