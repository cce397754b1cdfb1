// Directory-level operations with the crash-safety rules of DESIGN.md: a new, renamed or removed
// entry is durable only once its parent directory has been fsync'ed too.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "disk.hpp"
#include "fs.hpp"

namespace macp::storage_file {

std::string join(const std::string& dir, const std::string& name);
std::string parent_of(const std::string& path);

// fsync of a directory: makes its entries (creates, renames, unlinks) durable. Fail-stop.
void sync_dir(Disk& disk, const std::string& dir);

// Makes the just-created file or directory `path` durable by syncing its parent. If the parent
// cannot even be opened for that, the creation is undone (unlink or rmdir) so that a retry
// starts over instead of finding the entry and skipping the sync; if the undo fails too, the
// store stops.
void sync_new_entry(Disk& disk, const std::string& path, bool is_dir);

// mkdir(2). Returns true if the directory was created now, false if it already existed.
bool make_dir(Disk& disk, const std::string& path);

// mkdir(2) and, if that created the directory, sync_new_entry. Returns true if it was created now.
bool make_dir_durable(Disk& disk, const std::string& path);

// mkdir -p with make_dir_durable for each missing component.
void make_dirs(Disk& disk, const std::string& path);

// Replaces dir/name atomically: write dir/name.tmp, fsync, rename over, fsync dir. A crash leaves
// either the old or the new contents (plus at worst a *.tmp that recover() removes).
void atomic_write(Disk& disk, const std::string& dir, const std::string& name, std::string_view data);

// Entries of `dir` without "." and "..", or nullopt if `dir` does not exist.
std::optional<std::vector<DirEntry>> list_dir(Disk& disk, const std::string& dir);

// Whether `path` exists (of any kind).
bool exists(Disk& disk, const std::string& path);

// unlink(2); returns false if the file did not exist.
bool remove_file(Disk& disk, const std::string& path);

// rm -r; returns false if nothing existed. The caller syncs the parent.
bool remove_tree(Disk& disk, const std::string& path);

}  // namespace macp::storage_file
