#include "crash_fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <set>
#include <sstream>

namespace macp::storage_file::testing {
namespace {

// Components of an absolute path, with "." and ".." resolved; nullopt for a relative path.
std::optional<std::vector<std::string>> split(const std::string& path) {
    if (path.empty() || path.front() != '/') return std::nullopt;
    std::vector<std::string> out;
    size_t pos = 1;
    while (pos <= path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        const std::string part = path.substr(pos, next - pos);
        if (part == "..") {
            if (!out.empty()) out.pop_back();
        } else if (!part.empty() && part != ".") {
            out.push_back(part);
        }
        pos = next + 1;
    }
    return out;
}

// splitmix64: a tiny deterministic generator, identical on every platform.
uint64_t next_random(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

bool writable(int flags) {
    return (flags & O_ACCMODE) != O_RDONLY;
}

}  // namespace

std::string describe(const ImageSpec& spec) {
    static const char* const meta[] = {"durable", "current", "mixed"};
    static const char* const data[] = {"durable", "current", "half_tail", "all_but_last", "zero_tail", "mixed"};
    std::ostringstream out;
    out << "entries=" << meta[static_cast<int>(spec.meta)] << " data=" << data[static_cast<int>(spec.data)]
        << " seed=" << spec.seed;
    return out.str();
}

CrashFs::CrashFs() : root_(std::make_shared<Node>()) {
    root_->dir = true;
}

// ---- crash simulation ---------------------------------------------------------------------------

void CrashFs::crash_after(long n) {
    std::lock_guard<std::mutex> lock(mu_);
    crash_after_ = n < 0 ? -1 : mutations_ + n;
}

bool CrashFs::crashed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return crashed_;
}

long CrashFs::mutations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return mutations_;
}

std::shared_ptr<CrashFs> CrashFs::crash_image(const ImageSpec& spec) const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t rng = spec.seed * 0x2545F4914F6CDD1DULL + 1;
    std::map<const Node*, std::shared_ptr<Node>> copies;  // keeps hard links (if any) shared

    auto pick_data = [&](const Node& n) -> std::string {
        ImageSpec::Data how = spec.data;
        if (how == ImageSpec::Data::mixed) how = static_cast<ImageSpec::Data>(next_random(rng) % 5);
        const std::string& d = n.durable_data;
        const std::string& c = n.data;
        if (how == ImageSpec::Data::durable) return d;
        if (how == ImageSpec::Data::current) return c;
        // An overwrite of durable bytes (a recycled journal segment): the torn variants apply part
        // of the changed range, in order; a zero image keeps the old bytes.
        if (c.size() >= d.size() && c.compare(0, d.size(), d) != 0) {
            size_t first = 0;
            while (c[first] == d[first]) ++first;
            size_t last = d.size();
            while (last > first && c[last - 1] == d[last - 1]) --last;
            std::string torn = d;
            const size_t len = last - first;
            switch (how) {
                case ImageSpec::Data::half_tail: torn.replace(first, len / 2, c, first, len / 2); break;
                case ImageSpec::Data::all_but_last:
                    if (len > 0) torn.replace(first, len - 1, c, first, len - 1);
                    break;
                default: break;
            }
            return torn;
        }
        // The torn variants apply to appends: current = durable + unsynced tail.
        if (c.size() <= d.size()) return d;
        const std::string tail = c.substr(d.size());
        switch (how) {
            case ImageSpec::Data::half_tail: return d + tail.substr(0, tail.size() / 2);
            case ImageSpec::Data::all_but_last: return d + tail.substr(0, tail.size() - 1);
            case ImageSpec::Data::zero_tail: return d + std::string(tail.size(), '\0');
            default: return d;
        }
    };

    std::function<std::shared_ptr<Node>(const Node&)> copy = [&](const Node& n) -> std::shared_ptr<Node> {
        auto found = copies.find(&n);
        if (found != copies.end()) return found->second;
        auto out = std::make_shared<Node>();
        copies.emplace(&n, out);
        out->dir = n.dir;
        if (n.dir) {
            bool current = spec.meta == ImageSpec::Meta::current;
            if (spec.meta == ImageSpec::Meta::mixed) current = (next_random(rng) & 1) != 0;
            for (const auto& [name, child] : current ? n.entries : n.durable_entries) {
                out->entries[name] = copy(*child);
            }
            out->durable_entries = out->entries;
        } else {
            out->data = pick_data(n);
            out->durable_data = out->data;
        }
        return out;
    };

    auto image = std::make_shared<CrashFs>();
    image->root_ = copy(*root_);
    return image;
}

// ---- fault injection ----------------------------------------------------------------------------

void CrashFs::inject(Call call, int err, std::string path_contains, int times) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.push_back(Fault{call, err, std::move(path_contains), false, times});
}

void CrashFs::inject_exact(Call call, int err, std::string path, int times) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.push_back(Fault{call, err, std::move(path), true, times});
}

void CrashFs::clear_faults() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
}

void CrashFs::set_capacity(std::optional<size_t> bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    capacity_ = bytes;
}

void CrashFs::set_read_only(bool read_only) {
    std::lock_guard<std::mutex> lock(mu_);
    if (read_only) sync_all(root_);
    read_only_ = read_only;
}

// ---- inspection ---------------------------------------------------------------------------------

long CrashFs::calls(Call call) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = calls_.find(call);
    return it == calls_.end() ? 0 : it->second;
}

std::optional<std::string> CrashFs::contents(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    int err = 0;
    const auto node = lookup(path, err);
    if (!node || node->dir) return std::nullopt;
    return node->data;
}

bool CrashFs::exists(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    int err = 0;
    return lookup(path, err) != nullptr;
}

size_t CrashFs::used_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_locked();
}

void CrashFs::put_file(const std::string& path, const std::string& data) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string name;
    int err = 0;
    const auto parent = lookup_parent(path, name, err);
    if (!parent) return;
    auto node = std::make_shared<Node>();
    node->data = node->durable_data = data;
    parent->entries[name] = node;
    parent->durable_entries[name] = node;
}

std::string CrashFs::dump() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream out;
    std::function<void(const Node&, const std::string&)> walk = [&](const Node& n, const std::string& path) {
        std::set<std::string> names;
        for (const auto& kv : n.entries) names.insert(kv.first);
        for (const auto& kv : n.durable_entries) names.insert(kv.first);
        for (const std::string& name : names) {
            const auto cur = n.entries.find(name);
            const auto dur = n.durable_entries.find(name);
            const Node& child = cur != n.entries.end() ? *cur->second : *dur->second;
            out << path << "/" << name << (child.dir ? "/" : "");
            if (cur == n.entries.end()) out << " (unlinked, not yet durably)";
            if (dur == n.durable_entries.end()) out << " (entry not durable)";
            if (!child.dir) out << " size=" << child.data.size() << " durable_size=" << child.durable_data.size();
            out << "\n";
            if (child.dir) walk(child, path + "/" + name);
        }
    };
    walk(*root_, "");
    return out.str();
}

// ---- internals ----------------------------------------------------------------------------------

int CrashFs::begin(Call call, const std::string& path, bool mutating) {
    if (crashed_) return EIO;
    if (mutating) {
        if (crash_after_ >= 0 && mutations_ >= crash_after_) {
            crashed_ = true;
            return EIO;
        }
        ++mutations_;
    }
    ++calls_[call];
    for (Fault& f : faults_) {
        if (f.call != call || f.times == 0) continue;
        if (f.exact ? path != f.path : path.find(f.path) == std::string::npos) continue;
        if (f.times > 0) --f.times;
        return f.err;
    }
    return 0;
}

std::shared_ptr<CrashFs::Node> CrashFs::lookup(const std::string& path, int& err) const {
    const auto parts = split(path);
    if (!parts) {
        err = EINVAL;
        return nullptr;
    }
    std::shared_ptr<Node> node = root_;
    for (const std::string& part : *parts) {
        if (!node->dir) {
            err = ENOTDIR;
            return nullptr;
        }
        const auto it = node->entries.find(part);
        if (it == node->entries.end()) {
            err = ENOENT;
            return nullptr;
        }
        node = it->second;
    }
    return node;
}

std::shared_ptr<CrashFs::Node> CrashFs::lookup_parent(const std::string& path, std::string& name, int& err) const {
    auto parts = split(path);
    if (!parts || parts->empty()) {
        err = parts ? EBUSY : EINVAL;  // the root has no parent
        return nullptr;
    }
    name = parts->back();
    parts->pop_back();
    std::string parent_path = "/";
    for (const std::string& p : *parts) parent_path += p + "/";
    auto parent = lookup(parent_path, err);
    if (parent && !parent->dir) {
        err = ENOTDIR;
        return nullptr;
    }
    return parent;
}

CrashFs::OpenFile* CrashFs::file(int fd) {
    const auto it = fds_.find(fd);
    return it == fds_.end() ? nullptr : &it->second;
}

void CrashFs::sync_all(const std::shared_ptr<Node>& node) {
    if (node->dir) {
        node->durable_entries = node->entries;
        for (const auto& kv : node->entries) sync_all(kv.second);
    } else {
        node->durable_data = node->data;
    }
}

size_t CrashFs::used_locked() const {
    std::set<const Node*> seen;
    size_t total = 0;
    std::function<void(const Node&)> walk = [&](const Node& n) {
        if (!seen.insert(&n).second) return;
        total += n.data.size();
        for (const auto& kv : n.entries) walk(*kv.second);
    };
    walk(*root_);
    for (const auto& kv : fds_) walk(*kv.second.node);  // unlinked but still open
    return total;
}

// ---- Fs -----------------------------------------------------------------------------------------

int CrashFs::open(const std::string& path, int flags, mode_t /*mode*/, int& fd) {
    std::lock_guard<std::mutex> lock(mu_);
    const bool mutating = (flags & (O_CREAT | O_TRUNC)) != 0;
    if (const int e = begin(Call::open, path, mutating)) return e;
    std::shared_ptr<Node> node;
    int err = 0;
    if (split(path) && split(path)->empty()) {
        node = root_;
    } else {
        std::string name;
        const auto parent = lookup_parent(path, name, err);
        if (!parent) return err;
        const auto it = parent->entries.find(name);
        if (it == parent->entries.end()) {
            if ((flags & O_CREAT) == 0) return ENOENT;
            if (read_only_) return EROFS;
            node = std::make_shared<Node>();
            parent->entries[name] = node;
        } else {
            if ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0) return EEXIST;
            node = it->second;
        }
    }
    if (node->dir && writable(flags)) return EISDIR;
    if (!node->dir && (flags & O_DIRECTORY) != 0) return ENOTDIR;
    if (writable(flags) && read_only_) return EROFS;
    if ((flags & O_TRUNC) != 0 && writable(flags)) node->data.clear();
    fd = next_fd_++;
    fds_[fd] = OpenFile{node, flags, 0, path};
    return 0;
}

void CrashFs::close(int fd) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.erase(fd);
}

int CrashFs::write(int fd, std::string_view data, size_t& written) {
    return write_at(fd, data, -1, written);
}

int CrashFs::pwrite(int fd, std::string_view data, off_t offset, size_t& written) {
    if (offset < 0) return EINVAL;
    return write_at(fd, data, offset, written);
}

int CrashFs::write_at(int fd, std::string_view data, off_t offset, size_t& written) {
    std::lock_guard<std::mutex> lock(mu_);
    written = 0;
    OpenFile* f = file(fd);
    if (const int e = begin(Call::write, f ? f->path : std::string(), true)) return e;
    if (f == nullptr) return EBADF;
    if (!writable(f->flags)) return EBADF;
    if (f->node->dir) return EISDIR;
    if (read_only_) return EROFS;
    std::string& content = f->node->data;
    if (offset >= 0 && (f->flags & O_APPEND) != 0) return EINVAL;  // Linux would append: never meant
    const size_t off = offset >= 0                  ? static_cast<size_t>(offset)
                       : (f->flags & O_APPEND) != 0 ? content.size()
                                                    : static_cast<size_t>(f->pos);
    size_t n = data.size();
    if (capacity_) {
        const size_t used = used_locked();
        const size_t avail = *capacity_ > used ? *capacity_ - used : 0;
        const size_t growth = off + n > content.size() ? off + n - content.size() : 0;
        if (growth > avail) {
            const size_t cut = growth - avail;
            if (cut >= n) return ENOSPC;
            n -= cut;  // a short write, like a nearly full disk
        }
    }
    if (content.size() < off + n) content.resize(off + n, '\0');
    content.replace(off, n, data.substr(0, n));
    if (offset < 0) f->pos = static_cast<off_t>(off + n);
    written = n;
    return 0;
}

int CrashFs::pread(int fd, char* buf, size_t len, off_t offset, size_t& got) {
    std::lock_guard<std::mutex> lock(mu_);
    got = 0;
    OpenFile* f = file(fd);
    if (const int e = begin(Call::pread, f ? f->path : std::string(), false)) return e;
    if (f == nullptr || (f->flags & O_ACCMODE) == O_WRONLY) return EBADF;
    if (f->node->dir) return EISDIR;
    const std::string& content = f->node->data;
    const auto off = static_cast<size_t>(offset);
    if (off >= content.size()) return 0;
    got = std::min(len, content.size() - off);
    std::copy_n(content.data() + off, got, buf);
    return 0;
}

int CrashFs::file_size(int fd, off_t& size) {
    std::lock_guard<std::mutex> lock(mu_);
    OpenFile* f = file(fd);
    if (const int e = begin(Call::file_size, f ? f->path : std::string(), false)) return e;
    if (f == nullptr) return EBADF;
    size = static_cast<off_t>(f->node->dir ? 4096 : f->node->data.size());
    return 0;
}

int CrashFs::ftruncate(int fd, off_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    OpenFile* f = file(fd);
    if (const int e = begin(Call::ftruncate, f ? f->path : std::string(), true)) return e;
    if (f == nullptr) return EBADF;
    if (!writable(f->flags) || f->node->dir) return EINVAL;
    if (read_only_) return EROFS;
    f->node->data.resize(static_cast<size_t>(size), '\0');
    return 0;
}

int CrashFs::fsync(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    OpenFile* f = file(fd);
    if (const int e = begin(Call::fsync, f ? f->path : std::string(), true)) return e;
    if (f == nullptr) return EBADF;
    if (f->node->dir) {
        f->node->durable_entries = f->node->entries;
    } else {
        f->node->durable_data = f->node->data;
    }
    return 0;
}

int CrashFs::fdatasync(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    OpenFile* f = file(fd);
    if (const int e = begin(Call::fdatasync, f ? f->path : std::string(), true)) return e;
    if (f == nullptr) return EBADF;
    if (f->node->dir) {
        f->node->durable_entries = f->node->entries;
    } else {
        f->node->durable_data = f->node->data;
    }
    return 0;
}

int CrashFs::syncfs(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    OpenFile* f = file(fd);
    if (const int e = begin(Call::syncfs, f ? f->path : std::string(), true)) return e;
    if (f == nullptr) return EBADF;
    sync_all(root_);
    return 0;
}

int CrashFs::mkdir(const std::string& path, mode_t /*mode*/) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::mkdir, path, true)) return e;
    std::string name;
    int err = 0;
    const auto parent = lookup_parent(path, name, err);
    if (!parent) return err == EBUSY ? EEXIST : err;
    if (parent->entries.count(name) != 0) return EEXIST;
    if (read_only_) return EROFS;
    auto node = std::make_shared<Node>();
    node->dir = true;
    parent->entries[name] = node;
    return 0;
}

int CrashFs::rmdir(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::rmdir, path, true)) return e;
    std::string name;
    int err = 0;
    const auto parent = lookup_parent(path, name, err);
    if (!parent) return err;
    const auto it = parent->entries.find(name);
    if (it == parent->entries.end()) return ENOENT;
    if (!it->second->dir) return ENOTDIR;
    if (!it->second->entries.empty()) return ENOTEMPTY;
    if (read_only_) return EROFS;
    parent->entries.erase(it);
    return 0;
}

int CrashFs::unlink(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::unlink, path, true)) return e;
    std::string name;
    int err = 0;
    const auto parent = lookup_parent(path, name, err);
    if (!parent) return err;
    const auto it = parent->entries.find(name);
    if (it == parent->entries.end()) return ENOENT;
    if (it->second->dir) return EISDIR;
    if (read_only_) return EROFS;
    parent->entries.erase(it);
    return 0;
}

int CrashFs::rename(const std::string& from, const std::string& to) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::rename, from, true)) return e;
    std::string from_name;
    std::string to_name;
    int err = 0;
    const auto from_parent = lookup_parent(from, from_name, err);
    if (!from_parent) return err;
    const auto to_parent = lookup_parent(to, to_name, err);
    if (!to_parent) return err;
    const auto it = from_parent->entries.find(from_name);
    if (it == from_parent->entries.end()) return ENOENT;
    const auto node = it->second;
    const auto target = to_parent->entries.find(to_name);
    if (target != to_parent->entries.end()) {
        if (target->second == node) return 0;
        if (target->second->dir && !node->dir) return EISDIR;
        if (!target->second->dir && node->dir) return ENOTDIR;
        if (target->second->dir && !target->second->entries.empty()) return ENOTEMPTY;
    }
    if (read_only_) return EROFS;
    from_parent->entries.erase(from_name);
    to_parent->entries[to_name] = node;
    return 0;
}

int CrashFs::stat(const std::string& path, FileKind& kind) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::stat, path, false)) return e;
    int err = 0;
    const auto node = lookup(path, err);
    if (!node) return err;
    kind = node->dir ? FileKind::directory : FileKind::regular;
    return 0;
}

int CrashFs::list_dir(const std::string& path, std::vector<DirEntry>& out) {
    std::lock_guard<std::mutex> lock(mu_);
    out.clear();
    if (const int e = begin(Call::list_dir, path, false)) return e;
    int err = 0;
    const auto node = lookup(path, err);
    if (!node) return err;
    if (!node->dir) return ENOTDIR;
    for (const auto& [name, child] : node->entries) out.push_back(DirEntry{name, child->dir, !child->dir});
    return 0;
}

int CrashFs::access(const std::string& path, int mode) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::access, path, false)) return e;
    int err = 0;
    if (!lookup(path, err)) return err;
    if ((mode & W_OK) != 0 && read_only_) return EROFS;
    return 0;
}

int CrashFs::realpath(const std::string& path, std::string& out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const int e = begin(Call::realpath, path, false)) return e;
    int err = 0;
    if (!lookup(path, err)) return err;
    out.clear();
    const auto parts = split(path);
    for (const std::string& part : *parts) out += "/" + part;
    if (out.empty()) out = "/";
    return 0;
}

}  // namespace macp::storage_file::testing
