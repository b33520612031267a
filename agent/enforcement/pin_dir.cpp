// Pin-dir claim: flock on the bpffs directory.
#include "pin_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mw::enforcement {

PinDirLock& PinDirLock::operator=(PinDirLock&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

PinDirLock::~PinDirLock()
{
    if (fd_ >= 0) ::close(fd_);
}

Result<PinDirLock> claim_pin_dir(const std::string& dir)
{
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(fmt::format("enforcement: cannot create pin dir {}: {}", dir, ec.message()), ec.value());
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return make_error(fmt::format("enforcement: cannot open pin dir {}: {}", dir, std::strerror(errno)), errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK)
            return make_error(fmt::format("enforcement: pin dir {} is in use by another running agent", dir), EBUSY);
        return make_error(fmt::format("enforcement: cannot lock pin dir {}: {}", dir, std::strerror(err)), err);
    }
    return PinDirLock(fd);
}

}  // namespace mw::enforcement
