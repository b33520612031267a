// A process as the agent knows it: built from kernel records and /proc, owned by the ProcessTable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mw {

struct Process {
    std::uint32_t pid = 0;
    std::uint32_t ppid = 0;
    std::uint64_t start_time_ns = 0;       // boot-clock ns of the group leader's start: with pid, the identity
    std::uint64_t parent_start_time_ns = 0; // identity of the parent this process was forked from
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t cgroup_id = 0;
    std::uint32_t workload_id = 0;          // 0 = not watched
    std::string entity_id;                  // stable, unique across pid reuse and hosts
    std::string executable;                 // absolute path of the current image
    std::string name;                       // comm
    std::vector<std::string> args;
    bool args_truncated = false;
    std::string cwd;
    std::string cgroup_path;
    bool exited = false;
    std::int32_t exit_code = 0;             // raw wait status
    std::uint64_t exit_time_ns = 0;
    // Stamped by the ProcessTable on every change, unique across tables (0 = not from a table):
    // the ECS encoder keys its cached JSON fragments of this process on it. A copy changed
    // outside the table must set it to 0.
    std::uint64_t revision = 0;
};

}  // namespace mw
