// <root>/storage_version.json: the on-disk layout version shared with the reference runtime
// (BEHAVIOR.md STO-FILE-1, STO-MIG-1).
#pragma once

#include <string>

#include "disk.hpp"

namespace macp::storage_file {

inline constexpr int kStorageVersion = 3;

// Writes the version file into a fresh data directory, upgrades the marker of a directory that
// already has the per-session layout, and refuses directories this plugin cannot read (a newer
// version, or the reference's legacy single-file layout, which needs migrating first).
void ensure_storage_version(Disk& disk, const std::string& root);

}  // namespace macp::storage_file
