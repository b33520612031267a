// SECCOMP_RET_LOG reporting: `modelwarden exec` registers a log profile's allowed syscalls for
// the server's cgroup in a map the agent pins, and the agent's sys_enter program reports the rest.
#pragma once

#include "common/result.hpp"
#include "seccomp/profile.hpp"

#include <modelwarden/events.h>

#include <cstdint>
#include <string>

namespace mw::seccomp {

// Where a running agent with seccomp violation reports pins seccomp_log_profiles. One path
// for the host: the last agent started owns it, and removes it at stop if it still does.
inline constexpr const char* kLogProfilesPin = "/sys/fs/bpf/modelwarden_seccomp_log_profiles";

// True when some syscall under `profile` is logged and let through (default or a rule).
bool logs_syscalls(const Profile& profile);

// The syscalls `profile` lets through without logging (bit n = this architecture's nr n).
// A rule with argument conditions counts as allowed: a bitmap cannot hold them, and a false
// alert on every allowed socket() would drown the one that matters.
mw_syscall_bitmap allowed_bitmap(const Profile& profile);

// Writes cgroup_id -> allowed_bitmap(profile) into the pinned map. False (not an error)
// when no agent has pinned it: the profile still logs, nobody reports it.
Result<bool> register_log_profile(const Profile& profile, std::uint64_t cgroup_id,
                                  const std::string& pin = kLogProfilesPin);

}  // namespace mw::seccomp
