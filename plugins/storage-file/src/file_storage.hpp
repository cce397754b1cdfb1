// The storage-file plugin instance: the class behind the C vtable (see sdk/storage.hpp).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "disk.hpp"
#include "fs.hpp"
#include "journal.hpp"
#include "layout.hpp"
#include "log_cache.hpp"
#include "macp/plugin/sdk/storage.hpp"
#include "registry_store.hpp"

namespace macp::storage_file {

class FileStorage {
public:
    static constexpr std::uint32_t macp_optional_ops = sdk::op::append_log_batch | sdk::op::replace_log |
                                                       sdk::op::flush | sdk::op::health | sdk::op::recover |
                                                       sdk::op::check_config;
    static constexpr const char* kDataDirKey = "MACP_DATA_DIR";
    static constexpr const char* kDefaultDataDir = ".macp-data";
    static constexpr const char* kJournalKey = "MACP_FILE_JOURNAL";
    static constexpr const char* kJournalSegmentKey = "MACP_FILE_JOURNAL_SEGMENT_MB";
    static constexpr const char* kDefaultJournalSegmentMb = "16";
    static constexpr size_t kOpenLogLimit = 256;
    // Written, synced and removed by every health() call: proves the store can still write.
    static constexpr const char* kHealthProbeFile = ".health-probe.tmp";

    // --check-config: validates MACP_DATA_DIR without creating anything.
    static void check_config(const sdk::Config& config);

    // On the real filesystem (the plugin entry point).
    explicit FileStorage(const sdk::Config& config);
    // On `fs` (tests inject faults and simulate crashes through it). `journal`: options that
    // override the configured ones (tests choose tiny segments and inline checkpoints).
    FileStorage(const sdk::Config& config, std::shared_ptr<Fs> fs,
                std::optional<JournalOptions> journal = std::nullopt);

    // MACP_FILE_JOURNAL (on|off) and MACP_FILE_JOURNAL_SEGMENT_MB (1..1024); INVALID_ARGUMENT
    // naming the variable otherwise.
    static JournalOptions journal_options(const sdk::Config& config);

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

    // group_commit.cpp
    void append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& item_status,
                          const sdk::CallContext& cc);
    void replace_log(const std::string& session_id, const std::vector<std::string_view>& records);
    void flush();
    // Fails (IO_ERROR naming the data directory and the cause) exactly while the store cannot
    // write: after a failed sync (fail-stop), or while a probe write + fdatasync in the data
    // directory fails (disk full, read-only, no permission). Otherwise returns the durability note.
    std::string health();
    void recover(const sdk::Emitter& repairs);

private:
    static std::string open_data_dir(Disk& disk, const std::string& configured);
    static UniqueFd open_root(Disk& disk, const std::string& root);
    void probe_write();

    // mkdir of the session directory, made durable only when it was actually created.
    void ensure_session_dir(const std::string& session_id);
    std::shared_ptr<LogHandle> log_handle(const std::string& session_id);

    Disk disk_;  // first: the members below use it while they are constructed
    Layout layout_;
    LogCache logs_;
    RegistryStore registry_;
    // Open for the store's lifetime and the only descriptor group commit calls syncfs() on: Linux
    // reports a filesystem's writeback errors through syncfs only to descriptors opened before
    // the error, and a log opened in the same batch could miss one and report lost data as saved.
    UniqueFd root_fd_;
    std::mutex probe_mu_;                      // one health probe at a time (they share the probe file)
    Journal journal_;                          // after root_fd_ (it syncs through it), destroyed first
    std::vector<std::string> replay_repairs_;  // what the constructor's journal replay did, for recover()

    // Makes the session's log durable and commits a reset frame, before its log is replaced or
    // deleted (journal.hpp).
    void reset_in_journal(const std::string& session_id);
};

}  // namespace macp::storage_file
