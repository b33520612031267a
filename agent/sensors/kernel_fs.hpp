// Mounting the pseudo file systems the sensors need (tracefs for syscall
// tracepoints, bpffs for pinning) when the host has not mounted them.
#pragma once

#include "common/result.hpp"

#include <string>

namespace mw::sensors {

// True when `path` is the root of a mount whose statfs magic is `magic`.
bool is_mounted_as(const std::string& path, long magic);

// Mounts tracefs at /sys/kernel/tracing and bpffs at /sys/fs/bpf if missing.
Result<void> ensure_kernel_fs_mounted();

inline constexpr long kTracefsMagic = 0x74726163;
inline constexpr long kBpffsMagic = 0xcafe4a11;

}  // namespace mw::sensors
