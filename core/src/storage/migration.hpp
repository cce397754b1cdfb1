// `macp-runtime --migrate-storage FROM TO` (issue #10): copies every session (its log, record for
// record and byte for byte, and its snapshot) and the keyed registry records from one storage
// backend to another, then re-reads the target to verify the copy. The source is only read.
// Besides any backend, a data directory in the Rust reference runtime's LEGACY file layout
// (`sessions.json` id -> snapshot, `logs.json` id -> entries; 0.4.x / 0.6.x) is a source, read
// here directly since storage-file refuses it. main.cpp only opens the two sides and prints.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/storage_backend.hpp"
#include "util/result.hpp"

namespace macp::storage {

// The registry namespaces the runtime stores records under (modes::kModeNamespace,
// policy::kPolicyNamespace); the backend interface cannot list namespaces, so they are named.
std::vector<std::string> registry_namespaces();

// --- The two sides ------------------------------------------------------------------------------

// One side of a migration as given on the command line: `BACKEND[:LOCATION]` plus KEY=VALUE
// settings of its own (--from-set / --to-set).
struct SideSpec {
    std::string text;                           // "file:/var/lib/macp"
    std::map<std::string, std::string> extras;  // MACP_* -> value, for this side only
};

// A side resolved against the shared configuration: which plugin and the settings it gets.
struct Side {
    std::string backend;                          // "file"
    std::string plugin;                           // "storage-file"
    std::string location_key;                     // "MACP_DATA_DIR"; empty when the backend has none
    std::string location;                         // its value for this side
    std::map<std::string, std::string> settings;  // what open_storage receives
    [[nodiscard]] std::string describe() const;   // "file (MACP_DATA_DIR=/x)"
};

// The key a backend's LOCATION sets: file -> MACP_DATA_DIR, rocksdb -> MACP_ROCKSDB_PATH,
// redis -> MACP_REDIS_URL; nullopt for other backends.
std::optional<std::string> location_key(const std::string& backend);

// `shared` are the merged environment/flag settings (config::Config::settings) and `defaulted`
// the names in it that hold core defaults. The side's LOCATION and extras override them; a side
// that sets MACP_DATA_DIR but not MACP_ROCKSDB_PATH gets <its data dir>/rocksdb when the shared
// one was only a default. Errors: empty or malformed spec, "memory", LOCATION on a backend that
// has none, an extra that is not a MACP_* name.
Result<Side, std::string> resolve_side(const SideSpec& spec, const std::map<std::string, std::string>& shared,
                                       const std::set<std::string>& defaulted);

// Both sides name the same store (same backend and same location): nothing could be migrated.
bool same_store(const Side& from, const Side& to);

// --- Sources ------------------------------------------------------------------------------------

struct SessionData {
    std::string id;
    std::optional<std::string> snapshot;
    std::vector<std::string> log;
};

class MigrationSource {
public:
    virtual ~MigrationSource() = default;
    [[nodiscard]] virtual std::string describe() const = 0;
    virtual Result<std::vector<std::string>, std::string> session_ids() = 0;
    // Error: the session cannot be read or converted (the reason, reported by id).
    virtual Result<SessionData, std::string> session(const std::string& id) = 0;
    virtual Result<std::vector<std::pair<std::string, std::string>>, std::string> records(const std::string& ns) = 0;
};

// Reads a backend through list_session_ids / load_session / load_log / list_records only.
std::unique_ptr<MigrationSource> backend_source(StorageBackend& backend, std::string description);

// How a file-backend data directory looks, judged without changing it.
enum class DirLayout { Missing, Empty, Legacy, Current, Mixed, Unknown };
DirLayout inspect_data_dir(const std::filesystem::path& dir);
std::string describe_layout(DirLayout layout);

// The reference's legacy layout in `dir` (sessions.json and/or logs.json), read whole now; the
// files are only read. Errors: a file that is not a JSON object (the whole source is unusable).
// Each log entry becomes one compact JSON record (field order kept); a snapshot object becomes
// compact JSON. A session whose entries are not objects is unconvertible, with the reason.
Result<std::unique_ptr<MigrationSource>, std::string> legacy_file_source(const std::filesystem::path& dir);

// Why this session's records would not replay here, or nullopt: every record must decode as a
// log entry (kernel::decode_entry, which reads the reference's 0.4/0.6 entries too), checkpoint
// payloads must be snapshots this runtime reads, and a non-empty log must begin with a SessionStart
// or hold a checkpoint. An empty log is copied as it is (recovery skips it, STO-REC-1).
std::optional<std::string> check_session(const SessionData& session);

// --- Copy and verify ----------------------------------------------------------------------------

struct MigrationOptions {
    bool force = false;               // write into a target that already holds data
    bool skip_unconvertible = false;  // unconvertible sessions do not fail the migration
    std::vector<std::string> namespaces = registry_namespaces();
    size_t batch = 256;  // log records per append_log_batch (when replace_log is unsupported)
};

struct Unconvertible {
    std::string session_id;
    std::string reason;
};

struct MigrationReport {
    std::string source;
    std::string target;
    size_t source_sessions = 0;
    size_t sessions_copied = 0;
    size_t log_records = 0;
    size_t snapshots = 0;
    std::map<std::string, size_t> records;  // by namespace
    size_t target_sessions_before = 0;      // non-zero only with force
    std::vector<std::string> target_repairs;
    std::vector<Unconvertible> unconvertible;
    std::vector<std::string> errors;  // anything that failed the copy or the verification
    bool refused = false;             // the target was not empty and force was not given
    bool verified = false;
};

// Copies `source` into the target: first checks every source session (check_session); when one
// fails and skip_unconvertible is off, stops there without opening the target. Otherwise opens
// the target, runs its recover(), refuses it if it holds sessions or records unless force (then a
// session already there is replaced), copies each convertible session (log, then snapshot) and
// the records of every namespace, and flushes. report.target is the target's name().
using TargetOpener = std::function<Result<StorageBackend*, std::string>()>;
MigrationReport migrate(MigrationSource& source, const TargetOpener& open_target, const MigrationOptions& options);
MigrationReport migrate(MigrationSource& source, StorageBackend& target, const MigrationOptions& options);

// Re-reads `target` (ideally a freshly opened instance) against `source`: every copied session is
// listed, its log has the same number of records with equal bytes, its snapshot is equal, and each
// namespace holds the source's records. Sets report.verified, or adds errors.
void verify(MigrationSource& source, StorageBackend& target, const MigrationOptions& options, MigrationReport& report);

std::string render(const MigrationReport& report);
// 0 when copied and verified and nothing was unconvertible (or skip_unconvertible), else 1.
int exit_code(const MigrationReport& report, const MigrationOptions& options);

}  // namespace macp::storage
