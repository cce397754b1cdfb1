#include "fs_ops.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <system_error>

#include "posix_io.hpp"

namespace macp::storage_file {
namespace {

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

struct DirCloser {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};

}  // namespace

std::string join(const std::string& dir, const std::string& name) {
    return dir + "/" + name;
}

void sync_dir(const std::string& dir) {
    UniqueFd fd = open_file(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!fd) throw_io("open directory " + dir, errno);
    sync_file(fd.get(), dir);
}

bool make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), kDirMode) == 0) return true;
    const int err = errno;
    if (err != EEXIST) throw_io("create directory " + path, err);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw_io("stat " + path, errno);
    if (!S_ISDIR(st.st_mode)) throw_io("create directory " + path, ENOTDIR);
    return false;
}

void make_dirs(const std::string& path) {
    std::string prefix = path.rfind('/', 0) == 0 ? "/" : "";
    size_t pos = 0;
    while (pos < path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        if (next > pos) {
            if (!prefix.empty() && prefix.back() != '/') prefix += '/';
            prefix.append(path, pos, next - pos);
            if (make_dir(prefix)) sync_dir(parent_of(prefix));
        }
        pos = next + 1;
    }
}

void atomic_write(const std::string& dir, const std::string& name, std::string_view data) {
    const std::string target = join(dir, name);
    const std::string tmp = target + ".tmp";
    {
        UniqueFd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
        if (!fd) throw_io("create " + tmp, errno);
        try {
            write_all(fd.get(), data, tmp);
            sync_file(fd.get(), tmp);
        } catch (...) {
            ::unlink(tmp.c_str());
            throw;
        }
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw_io("rename " + tmp + " to " + target, err);
    }
    sync_dir(dir);
}

std::optional<std::vector<DirEntry>> list_dir(const std::string& dir) {
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
    if (!d) {
        if (errno == ENOENT) return std::nullopt;
        throw_io("open directory " + dir, errno);
    }
    std::vector<DirEntry> out;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d.get());
        if (e == nullptr) {
            if (errno != 0) throw_io("read directory " + dir, errno);
            return out;
        }
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        DirEntry entry{name, e->d_type == DT_DIR, e->d_type == DT_REG};
        // Some filesystems (XFS without ftype, network mounts) do not fill d_type.
        if (e->d_type == DT_UNKNOWN) {
            struct stat st {};
            if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                entry.is_dir = S_ISDIR(st.st_mode);
                entry.is_file = S_ISREG(st.st_mode);
            }
        }
        out.push_back(std::move(entry));
    }
}

bool remove_file(const std::string& path) {
    if (::unlink(path.c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    throw_io("remove " + path, errno);
}

bool remove_tree(const std::string& path) {
    std::error_code ec;
    const auto removed = std::filesystem::remove_all(path, ec);
    if (ec) throw_io("remove " + path, ec.value());
    return removed > 0;
}

}  // namespace macp::storage_file
