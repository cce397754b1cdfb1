// Exports macp_plugin_entry_v1 for the storage-file plugin.
#include "file_storage.hpp"

namespace {

const macp_config_key kConfigKeys[] = {
    macp::sdk::config_key(macp::storage_file::FileStorage::kDataDirKey,
                          macp::storage_file::FileStorage::kDefaultDataDir,
                          "Directory holding session snapshots, append-only logs and registries; "
                          "created if missing",
                          MACP_CONFIG_PATH),
};

}  // namespace

MACP_STORAGE_PLUGIN(macp::storage_file::FileStorage, "file", "1.0.0",
                    "Files on local disk: one directory per session, every write fdatasync'ed",
                    MACP_PLUGIN_FLAG_THREAD_SAFE, kConfigKeys)
