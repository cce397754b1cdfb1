// Bounded LRU of open log handles, keyed by session id.
//
// Opening, repairing and closing a log on every append would double the syscalls of the hot
// path; keeping every log open would exhaust descriptors with many sessions. Handles are shared
// pointers so that evicting one never closes a descriptor another thread is still writing to:
// the descriptor closes when its last user lets go.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "log_file.hpp"

namespace macp::storage_file {

class LogCache {
public:
    using Opener = std::function<std::shared_ptr<LogHandle>()>;

    explicit LogCache(size_t capacity) : capacity_(capacity) {}

    // The cached handle for `session_id`, or a new one from `open` (called without the lock
    // held, so a slow open never blocks appends of other sessions).
    std::shared_ptr<LogHandle> acquire(const std::string& session_id, const Opener& open);

    // Forgets the handle (after a failure, a rename over the file, or a delete).
    void invalidate(const std::string& session_id);
    void clear();

    // Every cached handle, for flush().
    [[nodiscard]] std::vector<std::shared_ptr<LogHandle>> handles() const;

private:
    struct Entry {
        std::shared_ptr<LogHandle> handle;
        std::list<std::string>::iterator lru_pos;
    };

    mutable std::mutex mu_;
    size_t capacity_;
    std::list<std::string> lru_;  // front = most recently used
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace macp::storage_file
