#include "journal_replay.hpp"

#include <fcntl.h>

#include <cerrno>
#include <map>
#include <string_view>
#include <unordered_map>

#include "fs_ops.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {
namespace {

// Whether the log holds `line` at `offset` already (reads at most line.size() bytes).
bool holds(Disk& disk, int fd, const std::string& path, off_t offset, std::string_view line, off_t size) {
    if (size < offset + static_cast<off_t>(line.size())) return false;
    std::string buf(line.size(), '\0');
    size_t got = 0;
    if (const int err = disk.fs().pread(fd, buf.data(), buf.size(), offset, got); err != 0) {
        throw_io("read " + path, err);
    }
    return got == buf.size() && std::string_view(buf) == line;
}

void write_at(Disk& disk, int fd, const std::string& path, off_t offset, std::string_view data) {
    while (!data.empty()) {
        size_t n = 0;
        const int err = disk.fs().pwrite(fd, data, offset, n);
        if (err != 0) throw_io("write " + path, err);
        if (n == 0) throw_io("write " + path, EIO);
        data.remove_prefix(n);
        offset += static_cast<off_t>(n);
    }
}

}  // namespace

ReplayOutcome replay_frames(Disk& disk, const Layout& layout, const std::vector<JournaledFrame>& frames) {
    ReplayOutcome out;
    std::unordered_map<std::string_view, size_t> last_reset;
    for (size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].frame.kind == FrameKind::reset) last_reset[frames[i].frame.session_id] = i + 1;
    }
    // Per session (in a stable order), the frames that still apply, in journal order.
    std::map<std::string, std::vector<const JournaledFrame*>> per_session;
    for (size_t i = 0; i < frames.size(); ++i) {
        const Frame& f = frames[i].frame;
        if (f.kind != FrameKind::append) continue;
        const auto reset = last_reset.find(f.session_id);
        if (reset != last_reset.end() && i < reset->second) continue;
        per_session[std::string(f.session_id)].push_back(&frames[i]);
    }

    for (const auto& [session_id, list] : per_session) {
        try {
            validate_session_id(session_id);
        } catch (const sdk::Error&) {
            out.repairs.push_back("journal: skipped " + std::to_string(list.size()) +
                                  " records of an invalid session id");
            continue;
        }
        const std::string dir = layout.session_dir(session_id);
        if (!exists(disk, dir)) {
            // Removed by hand (a delete through the store writes a reset frame first).
            out.repairs.push_back("journal: skipped " + std::to_string(list.size()) + " records of session " +
                                  session_id + ", whose directory is gone");
            continue;
        }
        const std::string path = layout.log_path(session_id);
        int err = 0;
        UniqueFd fd = disk.open(path, O_RDWR | O_CLOEXEC, err);
        if (!fd && err == ENOENT) {
            fd = disk.open(path, O_RDWR | O_CREAT | O_CLOEXEC, err);
            if (fd) out.created_in.push_back(dir);
        }
        if (!fd) throw_io("open " + path, err);
        off_t size = 0;
        if (const int e = disk.fs().file_size(fd.get(), size); e != 0) throw_io("stat " + path, e);

        size_t restored = 0;
        off_t end = 0;
        for (const JournaledFrame* jf : list) {
            const Frame& f = jf->frame;
            std::string line(f.record);
            line += '\n';
            if (f.offset > size) {
                std::string what = "journal segment ";
                what += jf->segment;
                what += ": a record of session ";
                what += session_id;
                what += " starts at byte " + std::to_string(f.offset);
                what += " of " + path;
                what += ", which has only " + std::to_string(size);
                what += " bytes: the log lost data from before the journal, which replay cannot restore";
                throw sdk::Error(MACP_STATUS_CORRUPT, what);
            }
            if (!holds(disk, fd.get(), path, f.offset, line, size)) {
                write_at(disk, fd.get(), path, f.offset, line);
                ++restored;
            }
            end = f.offset + static_cast<off_t>(line.size());
            size = std::max(size, end);
        }
        off_t cut = 0;
        if (size > end) {
            // Written by a commit whose journal write never completed: never acknowledged.
            if (const int e = disk.fs().ftruncate(fd.get(), end); e != 0) throw_io("truncate " + path, e);
            cut = size - end;
        }
        if (restored > 0 || cut > 0) {
            std::string what =
                "journal: restored " + std::to_string(restored) + " records of sessions/" + session_id + "/" + kLogFile;
            if (cut > 0) what += ", cut " + std::to_string(cut) + " bytes no commit acknowledged";
            out.repairs.push_back(what);
        }
        out.touched_logs.push_back(path);
    }
    return out;
}

}  // namespace macp::storage_file
