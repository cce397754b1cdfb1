// FileStorage::check_config: what `macp-runtime --check-config` asks of the file backend. It must
// leave no trace (storage.h check_config), so it only inspects: the data directory, or the
// nearest existing ancestor it would be created in, must be a writable directory.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "file_storage.hpp"

namespace macp::storage_file {
namespace {

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

void require_writable_dir(const std::string& dir, const std::string& what) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, what + " " + dir + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, what + " " + dir + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, what + " " + dir + " is not writable: " + std::strerror(errno));
    }
}

}  // namespace

void FileStorage::check_config(const sdk::Config& config) {
    journal_options(config);  // throws INVALID_ARGUMENT naming a bad value
    std::string dir = config.get_or(kDataDirKey, kDefaultDataDir);
    if (dir.empty()) throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(kDataDirKey) + " is empty");
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        require_writable_dir(dir, "data directory");
        return;
    }
    if (errno != ENOENT) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, "data directory " + dir + ": " + std::strerror(errno));
    }
    // Not there yet: create() would make it, so the nearest existing ancestor must allow that.
    std::string ancestor = parent_of(dir);
    while (::stat(ancestor.c_str(), &st) != 0 && errno == ENOENT && ancestor != "/" && ancestor != ".") {
        ancestor = parent_of(ancestor);
    }
    require_writable_dir(ancestor, "data directory " + dir + " does not exist and its parent");
}

}  // namespace macp::storage_file
