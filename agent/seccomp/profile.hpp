// OCI / Docker seccomp profiles: the model, a strict parser, generation from a learned set
// (always-dangerous syscalls left out), the systemd drop-in, and a human-readable diff.
#pragma once

#include "common/result.hpp"
#include "seccomp/learned_set.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mw::seccomp {

enum class Action { Allow, Errno, KillProcess, KillThread, Trap, Log };

// OCI names ("SCMP_ACT_ERRNO", ...); SCMP_ACT_KILL is read as KillThread, as runc does.
std::string_view to_oci(Action action);
std::optional<Action> action_from_oci(std::string_view name);
// CLI names: errno | kill_process | log.
std::optional<Action> action_from_cli(std::string_view name);

enum class CompareOp { NotEqual, Less, LessOrEqual, Equal, GreaterOrEqual, Greater, MaskedEqual };
std::string_view to_oci(CompareOp op);

struct ArgCondition {
    unsigned index = 0;           // 0..5
    std::uint64_t value = 0;
    std::uint64_t value_two = 0;  // MaskedEqual: the datum (value is the mask), as runc reads it
    CompareOp op = CompareOp::Equal;
};

struct SyscallRule {
    std::vector<std::string> names;
    Action action = Action::Allow;
    std::optional<std::uint32_t> errno_ret;  // Errno only; the profile default otherwise
    std::vector<ArgCondition> args;          // all must hold (AND)
};

struct Profile {
    Action default_action = Action::Errno;
    std::optional<std::uint32_t> default_errno;
    std::vector<std::string> architectures;
    std::vector<SyscallRule> syscalls;
};

// Strict reader of the OCI runtime spec's LinuxSeccomp object (plus Docker's
// defaultErrnoRet): wrong types, unknown keys, unknown actions/ops/architectures and
// syscall names this architecture lacks are errors naming the JSON path.
Result<Profile> parse_profile(std::string_view json, std::string_view source);
Result<Profile> load_profile(const std::string& path);
std::string profile_to_json(const Profile& profile);

// Syscalls left out of every generated profile unless named in GenerateOptions::allow.
std::span<const std::string_view> dangerous_syscalls();
// Added to every generated profile: a process must be able to exit and return from a
// signal handler even if learning missed it. execve is not here: `modelwarden exec`
// allows only its own, pinned execve (see apply.hpp); systemd allows execve itself.
std::span<const std::string_view> baseline_syscalls();
// Families `socket` stays allowed for (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK): packet
// and raw-link sockets are what a sniffer or spoofer needs, and no model server does.
std::span<const std::uint32_t> allowed_socket_families();

struct GenerateOptions {
    Action action = Action::Errno;        // for everything not learned
    std::set<std::string> allow;          // dangerous names the policy allows explicitly
};

struct Generated {
    Profile profile;
    std::vector<std::string> left_out;    // dangerous syscalls that were seen and left out
    std::vector<std::string> added;       // baseline syscalls learning had not seen
};

Result<Generated> generate_profile(const LearnedSet& learned, const GenerateOptions& options);

// [Service] drop-in with SystemCallFilter= and SystemCallErrorNumber= (errno),
// the default SIGSYS kill (kill_process) or SystemCallLog= (log).
std::string systemd_dropin(const Profile& profile, std::string_view workload);

// Names a profile lets through: unconditionally, or "name(args)" when conditions apply.
std::set<std::string> allowed_names(const Profile& profile);
// What changes from `previous` (nullptr = none) to `next`, one line per change.
std::string diff_profiles(const Profile* previous, const Profile& next);

}  // namespace mw::seccomp
