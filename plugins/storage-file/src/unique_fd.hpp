// Owning wrapper for a descriptor of an Fs (fs.hpp).
#pragma once

#include <utility>

#include "fs.hpp"

namespace macp::storage_file {

class UniqueFd {
public:
    UniqueFd() = default;
    UniqueFd(Fs& fs, int fd) noexcept : fs_(&fs), fd_(fd) {}
    ~UniqueFd() { reset(); }

    UniqueFd(UniqueFd&& other) noexcept : fs_(other.fs_), fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset();
            fs_ = other.fs_;
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }

    // Closes the descriptor; close errors are ignored (see PosixFs::close).
    void reset() noexcept {
        if (fd_ >= 0) fs_->close(fd_);
        fd_ = -1;
    }

private:
    Fs* fs_ = nullptr;
    int fd_ = -1;
};

}  // namespace macp::storage_file
