// C-ABI driver for the storage contract suite: loads the plugin under test, owns one instance,
// and turns every vtable call into a Result (status, error message, emitted items).
//
// The plugin under test is chosen by the environment of the ctest entry, so one executable
// serves every backend (file, rocksdb, redis, out-of-tree samples):
//   MACP_CONTRACT_PLUGIN      "memory" (built-in descriptor) or the path of a <kind>-<name>.so
//   MACP_CONTRACT_PERSISTENT  "1" if data must survive destroy + create on the same config
//   MACP_CONTRACT_LAYOUT      "file" to also run the checks that know storage-file's layout
//   MACP_CONTRACT_CONFIG      extra "KEY=VALUE;KEY=VALUE" pairs for create (e.g. a Redis URL);
//                             "@DATA_DIR@" in a value becomes the store's fresh data directory, so
//                             each store of a remote backend gets its own key space (e.g.
//                             MACP_REDIS_KEY_PREFIX=@DATA_DIR@:) and a reopen finds the same one
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "macp/plugin/storage.h"

namespace macp::contract {

using ConfigPairs = std::vector<std::pair<std::string, std::string>>;

struct Result {
    macp_status status = -1;  // -1: the call never returned a status
    std::string message;
    std::vector<std::string> items;

    [[nodiscard]] bool ok() const { return status == MACP_STATUS_OK; }
    [[nodiscard]] std::string describe() const;
};

struct Target {
    macp_plugin_entry_fn entry = nullptr;
    const macp_plugin_descriptor* descriptor = nullptr;
    std::string label;
    bool persistent = false;
    bool file_layout = false;
    ConfigPairs extra_config;

    [[nodiscard]] const macp_storage_vtable& vtable() const {
        return *static_cast<const macp_storage_vtable*>(descriptor->vtable);
    }
    [[nodiscard]] bool thread_safe() const { return (descriptor->flags & MACP_PLUGIN_FLAG_THREAD_SAFE) != 0; }
};

// Calls the plugin's check_config with the configuration Store would use for `data_dir`.
Result check_config(const std::string& data_dir);

// Loaded once per process; throws std::runtime_error with the dlerror text on failure.
const Target& target();

// A fresh mkdtemp directory, removed with everything in it when the object dies.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Calls `create` with MACP_DATA_DIR=data_dir plus the target's extra pairs. `*out` is only
// written by the plugin.
Result try_create(const std::string& data_dir, void** out);

// One live plugin instance; destroyed with the object.
class Store {
public:
    explicit Store(const std::string& data_dir);  // throws std::runtime_error if create fails
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    [[nodiscard]] const macp_storage_vtable& vt() const { return target().vtable(); }

    Result create_session_storage(const std::string& session_id);
    Result save_session(const std::string& session_id, std::string_view snapshot);
    Result load_session(const std::string& session_id);
    Result delete_session(const std::string& session_id);
    Result list_session_ids();
    Result append(const std::string& session_id, std::string_view record);
    Result load_log(const std::string& session_id);
    Result put_record(const std::string& ns, const std::string& key, std::string_view blob);
    Result delete_record(const std::string& ns, const std::string& key);
    Result list_records(const std::string& ns);

    // Optional operations: check that the vtable member is non-null first.
    Result append_batch(const std::vector<std::pair<std::string, std::string>>& items,
                        std::vector<macp_status>& item_status);
    Result replace_log(const std::string& session_id, const std::vector<std::string>& records);
    Result flush();
    Result health();
    Result recover();

    // Session leases (ABI 1.2): check that vt().acquire_lease is non-null first.
    struct FencedItem {
        std::string session_id;
        std::string record;
        uint64_t fencing_token = 0;
    };
    Result append_batch_fenced(const std::vector<FencedItem>& items, std::vector<macp_status>& item_status);
    Result acquire_lease(const std::string& session_id, const std::string& holder, uint32_t ttl_ms, uint64_t held_token,
                         macp_lease& out);
    Result release_lease(const std::string& session_id, const std::string& holder, uint64_t token);
    // The fencing token every later call carries in its context (0 = none).
    void set_fencing_token(uint64_t token) { fence_ = token; }

    // The plugin's instance, for tests that call an operation the methods above do not wrap.
    [[nodiscard]] void* instance() const { return instance_; }

private:
    void* instance_ = nullptr;
    uint64_t fence_ = 0;
};

}  // namespace macp::contract
