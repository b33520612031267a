// The freeze action: cgroup v2 `cgroup.freeze` on the workload's cgroup, until an operator
// thaws it (`modelwarden thaw`). Frozen tasks keep their memory for forensics.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.hpp"

namespace mw::enforcement {

// The cgroup v2 directory of `pid` under `cgroup2_root` (from /proc/<pid>/cgroup "0::/path").
Result<std::string> cgroup_dir_of(pid_t pid, const std::string& cgroup2_root);

// Writes 1 (freeze) or 0 (thaw) to <dir>/cgroup.freeze. The root cgroup cannot be frozen
// (EINVAL): a workload must run in a cgroup of its own (a systemd service, a container).
Result<void> set_frozen(const std::string& cgroup_dir, bool frozen);

// `frozen 1` in <dir>/cgroup.events: every task in it has stopped.
Result<bool> is_frozen(const std::string& cgroup_dir);

}  // namespace mw::enforcement
