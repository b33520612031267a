// exec under a profile: cgroup placement, NO_NEW_PRIVS, libseccomp filter, pinned execve.
#include "seccomp/apply.hpp"
#include "seccomp/log_profiles.hpp"

#include "policy/parser.hpp"
#include "syscalls/syscall_table.hpp"

#include <fmt/format.h>
#include <seccomp.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace mw::seccomp {
namespace {

Error sys_error(const std::string& what, int err)
{
    if (err < 0) err = -err;
    return make_error(fmt::format("seccomp: {}: {}", what, std::strerror(err)), err);
}

std::uint32_t to_scmp(Action action, std::uint32_t errno_ret)
{
    switch (action) {
    case Action::Allow: return SCMP_ACT_ALLOW;
    case Action::Errno: return SCMP_ACT_ERRNO(errno_ret);
    case Action::KillProcess: return SCMP_ACT_KILL_PROCESS;
    case Action::KillThread: return SCMP_ACT_KILL_THREAD;
    case Action::Trap: return SCMP_ACT_TRAP;
    case Action::Log: return SCMP_ACT_LOG;
    }
    return SCMP_ACT_KILL_PROCESS;
}

scmp_compare to_scmp(CompareOp op)
{
    switch (op) {
    case CompareOp::NotEqual: return SCMP_CMP_NE;
    case CompareOp::Less: return SCMP_CMP_LT;
    case CompareOp::LessOrEqual: return SCMP_CMP_LE;
    case CompareOp::Equal: return SCMP_CMP_EQ;
    case CompareOp::GreaterOrEqual: return SCMP_CMP_GE;
    case CompareOp::Greater: return SCMP_CMP_GT;
    case CompareOp::MaskedEqual: return SCMP_CMP_MASKED_EQ;
    }
    return SCMP_CMP_EQ;
}

// Owns a libseccomp context; the filter stays loaded in the kernel after release.
struct FilterContext {
    scmp_filter_ctx ctx = nullptr;
    ~FilterContext()
    {
        if (ctx) seccomp_release(ctx);
    }
};

Result<void> build(FilterContext& f, const Profile& profile, const char* pinned_exec_path)
{
    bool native_listed = profile.architectures.empty();
    for (const auto& a : profile.architectures)
        if (a == syscall_arch_name()) native_listed = true;
    if (!native_listed)
        return make_error(fmt::format("seccomp: the profile lists no rules for this host's architecture {}",
                                      syscall_arch_name()),
                          EINVAL);
    const std::uint32_t default_errno = profile.default_errno.value_or(EPERM);
    const std::uint32_t def = to_scmp(profile.default_action, default_errno);
    f.ctx = seccomp_init(def);
    if (!f.ctx) return make_error("seccomp: seccomp_init failed", ENOMEM);
    // Only native syscall numbers are resolved; a syscall through another ABI (x32, ia32)
    // is not covered by the rules, so it kills the process instead of slipping past.
    if (int rc = seccomp_attr_set(f.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
        return sys_error("cannot set the bad-architecture action", rc);
    // NO_NEW_PRIVS is set by exec_confined itself, before the cgroup move is done.
    if (int rc = seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_NNP, 0); rc < 0) return sys_error("cannot set ctl_nnp", rc);
    // A binary tree over syscall numbers instead of a linear list: a learned profile
    // allows a hundred or more syscalls, and each one would otherwise cost a compare.
    if (int rc = seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
        return sys_error("cannot ask for the binary-tree filter layout", rc);

    bool exec_allowed = profile.default_action == Action::Allow;
    for (std::size_t i = 0; i < profile.syscalls.size(); ++i) {
        const auto& rule = profile.syscalls[i];
        std::uint32_t action = to_scmp(rule.action, rule.errno_ret.value_or(default_errno));
        if (action == def) continue;  // libseccomp refuses rules equal to the default (EACCES)
        std::vector<scmp_arg_cmp> cmps;
        for (const auto& c : rule.args) {
            scmp_arg_cmp cmp{};
            cmp.arg = c.index;
            cmp.op = to_scmp(c.op);
            // MASKED_EQ: value is the mask, valueTwo the datum (runc's reading, libseccomp's order).
            cmp.datum_a = c.value;
            cmp.datum_b = c.value_two;
            cmps.push_back(cmp);
        }
        for (const auto& name : rule.names) {
            auto nr = syscall_number(name);
            if (!nr) return make_error(fmt::format("seccomp: unknown syscall '{}' on {}", name, syscall_arch_name()), EINVAL);
            if (name == "execve" && rule.action == Action::Allow && rule.args.empty()) exec_allowed = true;
            int rc = seccomp_rule_add_array(f.ctx, action, static_cast<int>(*nr), static_cast<unsigned>(cmps.size()),
                                            cmps.empty() ? nullptr : cmps.data());
            if (rc < 0) return sys_error(fmt::format("cannot add rule {} for '{}'", i, name), rc);
        }
    }
    if (pinned_exec_path && !exec_allowed) {
        auto nr = syscall_number("execve");
        if (!nr) return make_error("seccomp: this architecture has no execve", ENOSYS);
        int rc = seccomp_rule_add(f.ctx, SCMP_ACT_ALLOW, static_cast<int>(*nr), 1,
                                  SCMP_A0(SCMP_CMP_EQ, reinterpret_cast<scmp_datum_t>(pinned_exec_path)));
        if (rc < 0) return sys_error("cannot add the launcher's pinned execve", rc);
    }
    return {};
}

}  // namespace

Result<std::string> find_cgroup2_mount()
{
    std::ifstream in("/proc/self/mountinfo");
    if (!in) return sys_error("cannot read /proc/self/mountinfo", errno);
    std::string line;
    while (std::getline(in, line)) {
        // "id parent major:minor root mountpoint options [optional...] - fstype source super"
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream tail(line.substr(dash + 3));
        std::string fstype;
        tail >> fstype;
        if (fstype != "cgroup2") continue;
        std::istringstream head(line.substr(0, dash));
        std::string id, parent, devno, root, mountpoint;
        head >> id >> parent >> devno >> root >> mountpoint;
        if (!mountpoint.empty()) return mountpoint;
    }
    return make_error("seccomp: no cgroup2 mount in /proc/self/mountinfo", ENOENT);
}

Result<CgroupPlacement> enter_cgroup(const std::string& name)
{
    if (auto ok = check_workload_name(name); !ok)
        return make_error(fmt::format("seccomp: cgroup name '{}': {}", name, ok.error().message), EINVAL);
    return enter_cgroup_path("/modelwarden/" + name);
}

Result<CgroupPlacement> enter_cgroup_path(const std::string& v2_path)
{
    if (v2_path.empty() || v2_path[0] != '/' || v2_path.find("/..") != std::string::npos ||
        v2_path.find("/./") != std::string::npos)
        return make_error(fmt::format("seccomp: cgroup '{}' is not an absolute cgroup v2 path", v2_path), EINVAL);
    auto mount = find_cgroup2_mount();
    if (!mount) return mount.error();
    // Every level, as mkdir -p: the policy may name a nested cgroup.
    std::string path = *mount;
    std::size_t start = 1;
    while (start < v2_path.size()) {
        auto end = v2_path.find('/', start);
        if (end == std::string::npos) end = v2_path.size();
        if (end > start) {
            path += "/" + v2_path.substr(start, end - start);
            if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("cannot create cgroup " + path, errno);
        }
        start = end + 1;
    }
    std::string procs = path + "/cgroup.procs";
    {
        std::ofstream out(procs);
        out << ::getpid() << "\n";
        out.flush();
        if (!out) return sys_error("cannot move into " + procs, errno ? errno : EIO);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return sys_error("cannot stat " + path, errno);
    return CgroupPlacement{path, static_cast<std::uint64_t>(st.st_ino)};
}

Result<std::string> cgroup_for_policy(const std::string& policy_path, const std::string& workload)
{
    auto set = policy::load_policy_set({policy_path});
    if (!set) return make_error(fmt::format("seccomp: --policy {}:\n{}", policy_path, set.error().message), EINVAL);
    const policy::WorkloadPolicy* chosen = nullptr;
    if (workload.empty()) {
        if (set->workloads.size() != 1)
            return make_error(fmt::format("seccomp: {} defines {} workloads: name one with --workload", policy_path,
                                          set->workloads.size()),
                              EINVAL);
        chosen = &set->workloads[0];
    } else {
        for (const auto& w : set->workloads)
            if (w.name == workload) chosen = &w;
        if (!chosen)
            return make_error(fmt::format("seccomp: {} has no workload '{}'", policy_path, workload), ENOENT);
    }
    for (const auto& c : chosen->selector.cgroups)
        if (c != "/") return c;
    if (auto ok = check_workload_name(chosen->name); !ok)
        return make_error(fmt::format("seccomp: workload '{}' cannot name a cgroup: {}", chosen->name, ok.error().message),
                          EINVAL);
    return "/modelwarden/" + chosen->name;
}

Result<std::string> resolve_executable(const std::string& command)
{
    if (command.empty()) return make_error("seccomp: empty command", EINVAL);
    if (command.find('/') != std::string::npos) {
        if (::access(command.c_str(), X_OK) != 0) return sys_error("cannot execute " + command, errno);
        return command;
    }
    const char* env = std::getenv("PATH");
    std::string path = env ? env : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(start, end - start);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + command;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    return make_error(fmt::format("seccomp: '{}' not found in PATH", command), ENOENT);
}

Result<void> install_filter(const Profile& profile, const char* pinned_exec_path)
{
    FilterContext f;
    if (auto ok = build(f, profile, pinned_exec_path); !ok) return ok;
    if (int rc = seccomp_load(f.ctx); rc < 0) return sys_error("cannot load the filter", rc);
    return {};
}

Result<void> exec_confined(const ExecOptions& options)
{
    if (options.argv.empty()) return make_error("seccomp: exec needs a command", EINVAL);
    auto profile = load_profile(options.profile_path);
    if (!profile) return profile.error();
    auto exe = resolve_executable(options.argv[0]);
    if (!exe) return exe.error();
    if (!options.cgroup.empty() && !options.policy_path.empty())
        return make_error("seccomp: --cgroup and --policy both choose the cgroup: give one", EINVAL);
    std::string cgroup_path;
    if (!options.policy_path.empty()) {
        auto chosen = cgroup_for_policy(options.policy_path, options.workload);
        if (!chosen) return chosen.error();
        cgroup_path = *chosen;
    } else if (!options.workload.empty()) {
        return make_error("seccomp: --workload needs --policy", EINVAL);
    }
    if (!options.cgroup.empty() || !cgroup_path.empty()) {
        auto placed = cgroup_path.empty() ? enter_cgroup(options.cgroup) : enter_cgroup_path(cgroup_path);
        if (!placed) return placed.error();
        spdlog::info("seccomp: moved into cgroup {} (id {})", placed->path, placed->id);
        if (logs_syscalls(*profile)) {
            // RET_LOG lets the syscall run: the agent reports it from sys_enter by cgroup.
            // Not fatal: the profile still logs (to the audit log); only the agent's alert is lost,
            // e.g. for a caller without the right to open the agent's pin.
            auto registered = register_log_profile(*profile, placed->id);
            if (!registered)
                spdlog::warn("{}: logged syscalls of {} will not be reported", registered.error().message,
                             placed->path);
            else if (!*registered)
                spdlog::warn("seccomp: no agent pinned {}: logged syscalls of {} will not be reported",
                             kLogProfilesPin, placed->path);
        }
    } else if (logs_syscalls(*profile)) {
        spdlog::warn("seccomp: a log profile without --cgroup or --policy: logged syscalls are not reported "
                     "(the agent finds the profile by the server's own cgroup)");
    }
    // Without NO_NEW_PRIVS an unprivileged caller cannot install a filter, and a setuid
    // binary exec'd later could shed it; with it, the filter is inherited for good.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("cannot set no_new_privs", errno);

    std::vector<char*> argv;
    for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const char* path = exe->c_str();

    FilterContext f;
    if (auto ok = build(f, *profile, path); !ok) return ok;
    if (int rc = seccomp_load(f.ctx); rc < 0) return sys_error("cannot load the filter", rc);
    // From here on only the pinned execve is certain to pass; on failure report and leave.
    ::execve(path, argv.data(), environ);
    int err = errno;
    auto msg = fmt::format("modelwarden exec: cannot execute {}: {}\n", path, std::strerror(err));
    [[maybe_unused]] auto n = ::write(2, msg.data(), msg.size());
    ::_exit(127);
}

}  // namespace mw::seccomp
