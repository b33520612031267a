// Move-only RAII owner of a fanotify group fd (FAN_CLASS_CONTENT for permission events).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "common/result.hpp"

namespace mw::modelgate {

class FanotifyFd {
public:
    // init_flags e.g. FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK; event_f_flags O_RDONLY | O_LARGEFILE.
    static Result<FanotifyFd> create(unsigned init_flags, unsigned event_f_flags);

    FanotifyFd() = default;
    FanotifyFd(FanotifyFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    FanotifyFd& operator=(FanotifyFd&& o) noexcept;
    FanotifyFd(const FanotifyFd&) = delete;
    FanotifyFd& operator=(const FanotifyFd&) = delete;
    ~FanotifyFd();

    // Marks one directory (its direct children with FAN_EVENT_ON_CHILD in `mask`).
    Result<void> mark_directory(const std::string& path, std::uint64_t mask);
    // Answers a permission event; the kernel blocks the opener until this is written.
    Result<void> respond(int event_fd, bool allow);

    int get() const { return fd_; }

private:
    explicit FanotifyFd(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace mw::modelgate
