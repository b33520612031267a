// Applying a profile to a process we start: its own cgroup v2, NO_NEW_PRIVS, the libseccomp
// filter, then exec. The only syscall left between seccomp_load and the server is execve.
#pragma once

#include "common/result.hpp"
#include "seccomp/profile.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mw::seccomp {

// The cgroup2 mount point from /proc/self/mountinfo (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on hybrid hosts).
Result<std::string> find_cgroup2_mount();

struct CgroupPlacement {
    std::string path;        // <cgroup2>/modelwarden/<name>
    std::uint64_t id = 0;    // the cgroup id BPF sees (the directory's inode)
};
// Creates <cgroup2>/modelwarden/<name> if needed and moves the calling process into it.
Result<CgroupPlacement> enter_cgroup(const std::string& name);
// The same for a cgroup v2 path as policies name them ("/modelwarden/torch", below the mount).
Result<CgroupPlacement> enter_cgroup_path(const std::string& v2_path);

// Where `exec --policy P [--workload W]` puts the server: the first cgroup the workload's
// selector names (so the agent selects it by cgroup), else /modelwarden/<workload>.
// `workload` may be empty when the policy defines exactly one workload.
Result<std::string> cgroup_for_policy(const std::string& policy_path, const std::string& workload);

// An executable path for argv[0] (PATH search as execvp does it, resolved before the
// filter so exactly one execve follows it).
Result<std::string> resolve_executable(const std::string& command);

// Builds and loads the filter for `profile` in the calling process. `pinned_exec_path`,
// when not null, is the one execve the filter lets through even if the profile does not
// allow execve: the rule compares execve's first argument with this pointer, a value the
// new image never holds (it lives on the old stack, which exec discards).
Result<void> install_filter(const Profile& profile, const char* pinned_exec_path);

struct ExecOptions {
    std::string profile_path;
    std::string cgroup;                  // empty: stay in the current cgroup
    std::vector<std::string> argv;       // command and arguments
    std::string policy_path;             // cgroup from the policy's workload (see cgroup_for_policy)
    std::string workload;                // which workload of policy_path
};
// Never returns on success. On failure returns the error (before the filter is loaded)
// or writes it to stderr and _exit(127)s (after, when execve itself failed).
Result<void> exec_confined(const ExecOptions& options);

}  // namespace mw::seccomp
