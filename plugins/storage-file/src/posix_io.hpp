// File-descriptor level I/O that turns every failure into an IO_ERROR carrying path + strerror.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "unique_fd.hpp"

namespace macp::storage_file {

// Session data may hold business payloads: keep it away from other local users by default.
inline constexpr mode_t kFileMode = 0640;
inline constexpr mode_t kDirMode = 0750;

// strerror text; strerror() itself is not thread-safe and this plugin is.
std::string errno_text(int err);

// Fails the current plugin call with MACP_STATUS_IO_ERROR "<what>: <strerror(err)>".
[[noreturn]] void throw_io(const std::string& what, int err);

// open(2), retried on EINTR. On failure returns an empty UniqueFd with errno set.
UniqueFd open_file(const std::string& path, int flags, mode_t mode = kFileMode);

// Writes every byte, looping over short writes (disk nearly full, signals).
void write_all(int fd, std::string_view data, const std::string& path);

void sync_data(int fd, const std::string& path);  // fdatasync: enough for appends
void sync_file(int fd, const std::string& path);  // fsync: new files need their metadata too

// Whole file contents, or nullopt if it does not exist.
std::optional<std::string> read_whole_file(const std::string& path);

}  // namespace macp::storage_file
