// Learning without a daemon: load the sensors, start one command as a watched workload,
// run it to completion, and turn the kernel's bitmap into a learned set.
#pragma once

#include "common/result.hpp"
#include "seccomp/learned_set.hpp"

#include <string>
#include <vector>

namespace mw::sensors {
class Sensors;
}

namespace mw::seccomp {

// The workload id `seccomp learn` uses in the kernel maps (its own skeleton, no daemon).
inline constexpr std::uint32_t kLearnWorkloadId = 1;

struct LearnRun {
    LearnedSet learned;
    int wait_status = 0;   // the command's raw wait status
};

// Runs argv (PATH resolved first) marked as workload kLearnWorkloadId with
// MW_TASK_SKIP_FIRST_EXEC, so the launcher's own execve is not counted. Needs root.
Result<LearnRun> learn_command(const std::string& workload, const std::vector<std::string>& argv);

// The daemon's periodic dump: merges each workload's bitmap into DIR/<name>.json. `names[i]` is workload id i's name
// (empty = skip).
Result<void> dump_learned_sets(sensors::Sensors& sensors, const std::vector<std::string>& names,
                               const std::string& dir);

}  // namespace mw::seccomp
