// Ownership of the bpffs pin dir: one live agent enforces through it at a time; a dead
// agent's pins are adopted by the next one (see Sensors::prepare_pins / pin_links).
#pragma once

#include <string>

#include "common/result.hpp"

namespace mw::enforcement {

// An exclusive flock on the pin dir, held while this object lives. bpffs has no regular
// files (no pid file), but flock works on its directories; the kernel drops the lock
// when the holder dies, so a crashed agent's pins are free for the next one.
class PinDirLock {
public:
    PinDirLock() = default;
    explicit PinDirLock(int fd) : fd_(fd) {}
    PinDirLock(PinDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    PinDirLock& operator=(PinDirLock&& other) noexcept;
    PinDirLock(const PinDirLock&) = delete;
    PinDirLock& operator=(const PinDirLock&) = delete;
    ~PinDirLock();
    bool held() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// Creates `dir` if needed and locks it; EBUSY when another live agent holds it.
Result<PinDirLock> claim_pin_dir(const std::string& dir);

}  // namespace mw::enforcement
