// SECCOMP_RET_LOG reporting, the exec side: fill the agent's pinned cgroup -> profile map.
#include "seccomp/log_profiles.hpp"

#include "syscalls/syscall_table.hpp"

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mw::seccomp {

bool logs_syscalls(const Profile& profile)
{
    if (profile.default_action == Action::Log) return true;
    for (const auto& rule : profile.syscalls)
        if (rule.action == Action::Log) return true;
    return false;
}

mw_syscall_bitmap allowed_bitmap(const Profile& profile)
{
    mw_syscall_bitmap bitmap{};
    for (const auto& rule : profile.syscalls) {
        if (rule.action != Action::Allow) continue;
        for (const auto& name : rule.names) {
            auto nr = syscall_number(name);
            // parse_profile already refused names this architecture lacks.
            if (!nr || *nr >= MW_SYSCALL_BITMAP_WORDS * 64) continue;
            bitmap.words[*nr / 64] |= 1ull << (*nr % 64);
        }
    }
    return bitmap;
}

Result<bool> register_log_profile(const Profile& profile, std::uint64_t cgroup_id, const std::string& pin)
{
    int fd = bpf_obj_get(pin.c_str());
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT) return false;
        return make_error(fmt::format("seccomp: cannot open the agent's map {}: {}", pin, std::strerror(err)), err);
    }
    const mw_syscall_bitmap bitmap = allowed_bitmap(profile);
    int rc = bpf_map_update_elem(fd, &cgroup_id, &bitmap, BPF_ANY);
    int err = errno;
    ::close(fd);
    if (rc != 0)
        return make_error(fmt::format("seccomp: cannot register the log profile of cgroup {} in {}: {}", cgroup_id,
                                      pin, std::strerror(err)),
                          err);
    return true;
}

}  // namespace mw::seccomp
