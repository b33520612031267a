// fanotify syscalls behind Result-returning calls; errors name the path and the errno text.
#include "modelgate/fanotify_fd.hpp"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace mw::modelgate {

Result<FanotifyFd> FanotifyFd::create(unsigned init_flags, unsigned event_f_flags) {
    int fd = fanotify_init(init_flags, event_f_flags);
    if (fd < 0) return make_error(fmt::format("modelgate: fanotify_init: {}", std::strerror(errno)), errno);
    return FanotifyFd(fd);
}

FanotifyFd& FanotifyFd::operator=(FanotifyFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

FanotifyFd::~FanotifyFd() {
    // Closing the group makes the kernel allow every still-pending permission event.
    if (fd_ >= 0) ::close(fd_);
}

Result<void> FanotifyFd::mark_directory(const std::string& path, std::uint64_t mask) {
    if (fanotify_mark(fd_, FAN_MARK_ADD | FAN_MARK_ONLYDIR, mask, AT_FDCWD, path.c_str()) != 0)
        return make_error(fmt::format("modelgate: fanotify_mark {}: {}", path, std::strerror(errno)), errno);
    return {};
}

Result<void> FanotifyFd::respond(int event_fd, bool allow) {
    struct fanotify_response r {};
    r.fd = event_fd;
    r.response = allow ? FAN_ALLOW : FAN_DENY;
    if (::write(fd_, &r, sizeof r) != static_cast<ssize_t>(sizeof r))
        return make_error(fmt::format("modelgate: fanotify response for fd {}: {}", event_fd, std::strerror(errno)), errno);
    return {};
}

}  // namespace mw::modelgate
