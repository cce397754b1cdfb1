// Crash recovery of the journal: puts every journaled record back into its session's log.
#pragma once

#include <string>
#include <vector>

#include "disk.hpp"
#include "journal_frame.hpp"
#include "layout.hpp"

namespace macp::storage_file {

struct JournaledFrame {
    Frame frame;
    std::string segment;  // file name, for messages
};

struct ReplayOutcome {
    std::vector<std::string> repairs;       // one line per log that had to change
    std::vector<std::string> touched_logs;  // every log a frame applies to (the caller syncs them)
    std::vector<std::string> created_in;    // session directories where a log had to be created
};

// `frames` in journal order. Per session, only the frames after its last reset apply; each is
// written at its offset unless the log already holds exactly its bytes there, and bytes after the
// session's last frame are cut (no acknowledged record lies beyond it: every append is journaled,
// and segments retire oldest first). A frame that starts beyond the end of its log means the log
// lost data from before the journal's oldest segment, which replay cannot restore: CORRUPT.
// Idempotent: running it again on its own result changes nothing.
ReplayOutcome replay_frames(Disk& disk, const Layout& layout, const std::vector<JournaledFrame>& frames);

}  // namespace macp::storage_file
