#include "storage_version.hpp"

#include <cctype>
#include <optional>

#include "fs_ops.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {
namespace {

constexpr const char* kVersionFile = "storage_version.json";

// The file is tiny and always `{"version": N}`; a full JSON parser would be the plugin's only
// third-party dependency, so read the one number by hand.
std::optional<int> parse_version(const std::string& text) {
    const auto key = text.find("\"version\"");
    if (key == std::string::npos) return std::nullopt;
    size_t i = text.find(':', key);
    if (i == std::string::npos) return std::nullopt;
    ++i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) != 0) ++i;
    int value = 0;
    size_t digits = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0 && digits < 9; ++i, ++digits) {
        value = value * 10 + (text[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    return value;
}

}  // namespace

void ensure_storage_version(Disk& disk, const std::string& root) {
    const std::string path = join(root, kVersionFile);
    if (exists(disk, join(root, "sessions.json")) || exists(disk, join(root, "logs.json"))) {
        throw sdk::Error(MACP_STATUS_UNSUPPORTED,
                         "data directory " + root +
                             " uses the legacy sessions.json/logs.json layout; convert it into a new "
                             "directory with `macp-runtime --migrate-storage file:" +
                             root + " file:<new dir>`, or move those files away");
    }
    if (const auto text = disk.read_whole_file(path)) {
        const auto version = parse_version(*text);
        if (!version) {
            throw sdk::Error(MACP_STATUS_CORRUPT, path + ": no \"version\" number in the file");
        }
        if (*version > kStorageVersion) {
            throw sdk::Error(MACP_STATUS_UNSUPPORTED, path + ": storage version " + std::to_string(*version) +
                                                          " is newer than this plugin supports (" +
                                                          std::to_string(kStorageVersion) + ")");
        }
        if (*version == kStorageVersion) return;
    }
    // Pretty-printed like the reference writes it, so either runtime can open the directory.
    atomic_write(disk, root, kVersionFile, "{\n  \"version\": " + std::to_string(kStorageVersion) + "\n}");
}

}  // namespace macp::storage_file
