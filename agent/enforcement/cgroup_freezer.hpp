// The freeze action: cgroup v2 `cgroup.freeze` on the workload's cgroup, until an operator
// thaws it (`modelwarden thaw`). Frozen tasks keep their memory for forensics.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.hpp"

namespace mw::enforcement {

// The cgroup v2 directory of `pid` under `cgroup2_root` (from /proc/<pid>/cgroup "0::/path").
Result<std::string> cgroup_dir_of(pid_t pid, const std::string& cgroup2_root);

// Writes 1 (freeze) or 0 (thaw) to <dir>/cgroup.freeze. The root cgroup cannot be frozen
// (EINVAL): a workload must run in a cgroup of its own (a systemd service, a container).
Result<void> set_frozen(const std::string& cgroup_dir, bool frozen);

// `frozen 1` in <dir>/cgroup.events: every task in it has stopped.
Result<bool> is_frozen(const std::string& cgroup_dir);

// The pids listed in <dir>/cgroup.procs.
Result<std::vector<pid_t>> cgroup_pids(const std::string& cgroup_dir);

// `pid` and every live descendant of it, from one /proc scan (parents before children).
std::vector<pid_t> process_tree(pid_t pid);

// Creates <cgroup2_root>/modelwarden.slice/<name> (and the slice), already frozen, so a
// task moved in stops at once and a task forked by it before the move is caught by the next
// pass. `name` must be a single path component. Returns the directory.
Result<std::string> make_frozen_cgroup(const std::string& cgroup2_root, const std::string& name);

// Writes `pid` to <dir>/cgroup.procs (moves the whole thread group).
Result<void> move_to_cgroup(pid_t pid, const std::string& cgroup_dir);

// rmdir when no task is left (EBUSY is not an error: it stays for later).
void remove_if_empty(const std::string& cgroup_dir);

}  // namespace mw::enforcement
