// Directory-level operations with the crash-safety rules of DESIGN.md: a new or renamed entry is
// durable only once its parent directory has been fsync'ed too.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace macp::storage_file {

std::string join(const std::string& dir, const std::string& name);

void sync_dir(const std::string& dir);

// mkdir(2). Returns true if the directory was created now, false if it already existed.
bool make_dir(const std::string& path);

// mkdir -p; each parent that gained an entry is fsync'ed.
void make_dirs(const std::string& path);

// Replaces dir/name atomically: write dir/name.tmp, fsync, rename over, fsync dir. A crash leaves
// either the old or the new contents (plus at worst a *.tmp that recover() removes).
void atomic_write(const std::string& dir, const std::string& name, std::string_view data);

struct DirEntry {
    std::string name;
    bool is_dir = false;
    bool is_file = false;
};

// Entries of `dir` without "." and "..", or nullopt if `dir` does not exist.
std::optional<std::vector<DirEntry>> list_dir(const std::string& dir);

// unlink(2); returns false if the file did not exist.
bool remove_file(const std::string& path);

// rm -r; returns false if nothing existed.
bool remove_tree(const std::string& path);

}  // namespace macp::storage_file
