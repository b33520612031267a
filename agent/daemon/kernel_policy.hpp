// Loads a compiled policy set into the sensors' maps, and finds the processes already
// running that a policy selects (the kernel only sees processes that exec after start-up).
#pragma once

#include <cstddef>
#include <string>

#include "common/result.hpp"
#include "policy/compile.hpp"
#include "policy/model.hpp"

namespace mw {

class ProcessTable;
namespace sensors { class Sensors; }

// The cgroup v2 mount point from /proc/self/mountinfo ("/sys/fs/cgroup" on most hosts).
std::string find_cgroup2_mount();

// Replaces every policy map's contents with `compiled`, new entries before stale deletions (no
// window without enforcement). Selector cgroups are resolved to
// cgroup ids under cgroup2_root; a cgroup that does not exist yet is skipped with a warning.
Result<void> load_policy_maps(sensors::Sensors& sensors, const policy::CompiledPolicy& compiled,
                              const std::string& cgroup2_root);

// Marks every running process a selector matches, and all of its descendants, in the
// kernel's watched-task map. Returns how many processes were marked.
std::size_t mark_running_workloads(sensors::Sensors& sensors, ProcessTable& table, const policy::PolicySet& policies);

}  // namespace mw
