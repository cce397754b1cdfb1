#include "recovery.hpp"

#include <fcntl.h>

#include <cerrno>
#include <functional>
#include <string>

#include "fs_ops.hpp"
#include "log_file.hpp"

namespace macp::storage_file {
namespace {

bool is_tmp(const std::string& name) {
    const std::string_view suffix = kTmpSuffix;
    return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// `rel` is the directory relative to the data dir ("" for the data dir itself).
void remove_tmp_files(Disk& disk, const Layout& layout, const std::string& rel, const sdk::Emitter& repairs) {
    const std::string dir = rel.empty() ? layout.root() : join(layout.root(), rel);
    const auto entries = list_dir(disk, dir);
    if (!entries) return;
    bool removed_any = false;
    for (const DirEntry& e : *entries) {
        if (!e.is_file || !is_tmp(e.name)) continue;
        if (remove_file(disk, join(dir, e.name))) {
            removed_any = true;
            repairs("removed leftover " + (rel.empty() ? e.name : join(rel, e.name)));
        }
    }
    if (removed_any) sync_dir(disk, dir);
}

void repair_log(Disk& disk, const Layout& layout, const std::string& session_id, const sdk::Emitter& repairs) {
    const std::string path = layout.log_path(session_id);
    int err = 0;
    UniqueFd fd = disk.open(path, O_RDWR | O_CLOEXEC, err);
    if (!fd) {
        if (err == ENOENT) return;
        throw_io("open " + path, err);
    }
    const TailRepair repair = repair_torn_tail(disk, fd.get(), path);
    if (repair.removed > 0) {
        repairs("truncated torn tail of sessions/" + session_id + "/" + kLogFile + " (" +
                std::to_string(repair.removed) + " bytes)");
    }
}

void for_each_subdir(Disk& disk, const std::string& dir, const std::function<void(const std::string&)>& fn) {
    const auto entries = list_dir(disk, dir);
    if (!entries) return;
    for (const DirEntry& e : *entries) {
        if (e.is_dir) fn(e.name);
    }
}

}  // namespace

void recover_data_dir(Disk& disk, const Layout& layout, const sdk::Emitter& repairs) {
    remove_tmp_files(disk, layout, "", repairs);
    for_each_subdir(disk, layout.sessions_dir(), [&](const std::string& session_id) {
        remove_tmp_files(disk, layout, join("sessions", session_id), repairs);
        repair_log(disk, layout, session_id, repairs);
    });
    for_each_subdir(disk, layout.registry_dir(), [&](const std::string& ns_dir) {
        remove_tmp_files(disk, layout, join("registry", ns_dir), repairs);
    });
}

}  // namespace macp::storage_file
