// Reads one process from /proc/<pid>: for processes that started before the agent, or whose
// records were lost. Every file may vanish mid-read (the process exits): that is an error, not a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "model/process.hpp"

namespace mw {

struct ProcStat {
    std::uint32_t pid = 0;
    std::uint32_t ppid = 0;
    std::string comm;
    char state = '?';
    std::uint64_t start_ticks = 0;   // field 22: clock ticks since boot
};

// Parses the text of /proc/<pid>/stat (comm may hold spaces and ')').
Result<ProcStat> parse_proc_stat(std::string_view text);

// Fills pid, ppid, start_time_ns (ticks * tick_ns), parent_start_time_ns, uid/gid (real ids,
// as bpf_get_current_uid_gid reports), name, executable, args (bounded like the kernel side:
// MW_ARGS_MAX_COUNT entries / MW_ARGS_MAX_BYTES), cwd and cgroup_path (cgroup v2 "0::" line).
// entity_id and cgroup_id are left for the caller. Fails with ENOENT-like errors when the
// process is gone, and with code ESRCH when `pid` is a thread that is not its group leader.
Result<Process> read_proc_process(std::string_view proc_root, std::uint32_t pid, std::uint64_t tick_ns);

// Tgid of a task id, 0 when unreadable.
std::uint32_t read_proc_tgid(std::string_view proc_root, std::uint32_t tid);

}  // namespace mw
