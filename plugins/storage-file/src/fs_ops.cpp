#include "fs_ops.hpp"

#include <fcntl.h>

#include <cerrno>

namespace macp::storage_file {

std::string join(const std::string& dir, const std::string& name) {
    return dir + "/" + name;
}

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

void sync_dir(Disk& disk, const std::string& dir) {
    int err = 0;
    UniqueFd fd = disk.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, err);
    if (!fd) throw_io("open directory " + dir, err);
    disk.sync_file(fd.get(), dir);
}

void sync_new_entry(Disk& disk, const std::string& path, bool is_dir) {
    const std::string parent = parent_of(path);
    int err = 0;
    UniqueFd fd = disk.open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, err);
    if (!fd) {
        const std::string what = "open of directory " + parent + " to make the new " + path + " durable";
        const int undo = is_dir ? disk.fs().rmdir(path) : disk.fs().unlink(path);
        if (undo != 0 && undo != ENOENT) {
            // The entry stays, undurable, and a retry would find it and skip the sync.
            disk.stop(what + " (and removing it again failed: " + errno_text(undo) + ")", err);
        }
        throw_io(what, err);
    }
    disk.sync_file(fd.get(), parent);
}

bool make_dir(Disk& disk, const std::string& path) {
    const int err = disk.fs().mkdir(path, kDirMode);
    if (err == 0) return true;
    if (err != EEXIST) throw_io("create directory " + path, err);
    FileKind kind = FileKind::other;
    if (const int e = disk.fs().stat(path, kind); e != 0) throw_io("stat " + path, e);
    if (kind != FileKind::directory) throw_io("create directory " + path, ENOTDIR);
    return false;
}

bool make_dir_durable(Disk& disk, const std::string& path) {
    if (!make_dir(disk, path)) return false;
    sync_new_entry(disk, path, true);
    return true;
}

void make_dirs(Disk& disk, const std::string& path) {
    std::string prefix = path.rfind('/', 0) == 0 ? "/" : "";
    size_t pos = 0;
    while (pos < path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        if (next > pos) {
            if (!prefix.empty() && prefix.back() != '/') prefix += '/';
            prefix.append(path, pos, next - pos);
            make_dir_durable(disk, prefix);
        }
        pos = next + 1;
    }
}

void atomic_write(Disk& disk, const std::string& dir, const std::string& name, std::string_view data) {
    const std::string target = join(dir, name);
    const std::string tmp = target + ".tmp";
    {
        int err = 0;
        UniqueFd fd = disk.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, err);
        if (!fd) throw_io("create " + tmp, err);
        try {
            disk.write_all(fd.get(), data, tmp);
            disk.sync_file(fd.get(), tmp);
        } catch (...) {
            fd.reset();
            disk.fs().unlink(tmp);
            throw;
        }
    }
    if (const int err = disk.fs().rename(tmp, target); err != 0) {
        disk.fs().unlink(tmp);
        throw_io("rename " + tmp + " to " + target, err);
    }
    sync_dir(disk, dir);
}

std::optional<std::vector<DirEntry>> list_dir(Disk& disk, const std::string& dir) {
    std::vector<DirEntry> out;
    const int err = disk.fs().list_dir(dir, out);
    if (err == ENOENT) return std::nullopt;
    if (err != 0) throw_io("read directory " + dir, err);
    return out;
}

bool exists(Disk& disk, const std::string& path) {
    FileKind kind = FileKind::other;
    const int err = disk.fs().stat(path, kind);
    if (err == ENOENT) return false;
    if (err != 0) throw_io("stat " + path, err);
    return true;
}

bool remove_file(Disk& disk, const std::string& path) {
    const int err = disk.fs().unlink(path);
    if (err == 0) return true;
    if (err == ENOENT) return false;
    throw_io("remove " + path, err);
}

bool remove_tree(Disk& disk, const std::string& path) {
    FileKind kind = FileKind::other;
    if (const int err = disk.fs().stat(path, kind); err != 0) {
        if (err == ENOENT) return false;
        throw_io("stat " + path, err);
    }
    if (kind != FileKind::directory) return remove_file(disk, path);
    if (const auto entries = list_dir(disk, path)) {
        for (const DirEntry& e : *entries) {
            const std::string child = join(path, e.name);
            if (e.is_dir) {
                remove_tree(disk, child);
            } else {
                remove_file(disk, child);
            }
        }
    }
    if (const int err = disk.fs().rmdir(path); err != 0 && err != ENOENT) throw_io("remove " + path, err);
    return true;
}

}  // namespace macp::storage_file
