// Where everything lives under the data directory (BEHAVIOR.md STO-FILE-1, plus registry/).
//   <root>/storage_version.json
//   <root>/sessions/<session_id>/session.json   snapshot
//   <root>/sessions/<session_id>/log.jsonl      records, one per '\n'-terminated line
//   <root>/registry/<encoded ns>/<encoded key>.rec
//   <root>/journal/<seq as 16 hex digits>.wal   write-ahead journal segments (journal.hpp)
//   <root>/journal/free-<seq>.wal               retired segments kept for reuse
#pragma once

#include <string>
#include <utility>

namespace macp::storage_file {

inline constexpr const char* kSnapshotFile = "session.json";
inline constexpr const char* kLogFile = "log.jsonl";
inline constexpr const char* kRecordSuffix = ".rec";
inline constexpr const char* kTmpSuffix = ".tmp";

class Layout {
public:
    explicit Layout(std::string root) : root_(std::move(root)) {}

    [[nodiscard]] const std::string& root() const { return root_; }
    [[nodiscard]] std::string sessions_dir() const { return root_ + "/sessions"; }
    [[nodiscard]] std::string registry_dir() const { return root_ + "/registry"; }
    [[nodiscard]] std::string journal_dir() const { return root_ + "/journal"; }
    // `session_id` must have passed validate_session_id().
    [[nodiscard]] std::string session_dir(const std::string& session_id) const {
        return sessions_dir() + "/" + session_id;
    }
    [[nodiscard]] std::string log_path(const std::string& session_id) const {
        return session_dir(session_id) + "/" + kLogFile;
    }

private:
    std::string root_;
};

// The core validates session ids before they reach us; this second check only guarantees that
// an id can never name something outside sessions/ (defence in depth against path traversal).
void validate_session_id(const std::string& session_id);

}  // namespace macp::storage_file
