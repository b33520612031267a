// Rule -> enforcing mechanism on this host, and the deny -> kill fallback (see mechanism.hpp).
#include "policy/mechanism.hpp"

#include <fmt/format.h>

namespace mw::policy {

namespace {

HostMechanisms g_host{true, true};

const PathRules* path_rules(const WorkloadPolicy& w, RuleSlot slot) {
    switch (slot) {
    case RuleSlot::exec: return &w.exec;
    case RuleSlot::read: return &w.read;
    case RuleSlot::write: return &w.write;
    default: return nullptr;
    }
}

Action configured_action(const WorkloadPolicy& w, RuleSlot slot) {
    switch (slot) {
    case RuleSlot::sensitive: return w.sensitive.action;
    case RuleSlot::egress: return w.egress.action;
    case RuleSlot::listen: return w.listen.action;
    default: return path_rules(w, slot)->action;
    }
}

Fallback fallback_of(const WorkloadPolicy& w, RuleSlot slot) {
    if (slot == RuleSlot::sensitive) return w.sensitive.fallback;
    if (const auto* r = path_rules(w, slot)) return r->fallback;
    return Fallback::none;  // network deny always has the cgroup hooks
}

}  // namespace

void set_host_mechanisms(const HostMechanisms& m) { g_host = m; }
const HostMechanisms& host_mechanisms() { return g_host; }

Action effective_action(const WorkloadPolicy& w, RuleSlot slot, const HostMechanisms& host) {
    const Action a = configured_action(w, slot);
    if (a != Action::deny || slot == RuleSlot::egress || slot == RuleSlot::listen || host.bpf_lsm) return a;
    return fallback_of(w, slot) == Fallback::kill ? Action::kill : a;
}

std::vector<RuleMechanism> rule_mechanisms(const WorkloadPolicy& w, const HostMechanisms& host) {
    std::vector<RuleMechanism> out;
    for (RuleSlot slot : {RuleSlot::exec, RuleSlot::read, RuleSlot::write, RuleSlot::sensitive, RuleSlot::egress,
                          RuleSlot::listen}) {
        RuleMechanism m{slot, configured_action(w, slot), effective_action(w, slot, host), {}, {}};
        const bool exec = slot == RuleSlot::exec;
        const bool net = slot == RuleSlot::egress || slot == RuleSlot::listen;
        const std::string kill_hook = exec ? "tracepoint kill (sched_process_exec, before execve returns)"
                                           : "tracepoint kill (sys_exit_openat, before the fd is used)";
        const std::string net_hook = slot == RuleSlot::egress ? "cgroup connect4/6 + sendmsg4/6 (EPERM)"
                                                              : "cgroup bind4/6 (EPERM)";
        if (w.mode == Mode::monitor) {
            m.mechanism = "none: monitor mode, alert only";
        } else {
            switch (m.configured) {
            case Action::alert: m.mechanism = "none: alert only"; break;
            case Action::kill:
                m.mechanism = net ? net_hook + ", then SIGKILL at the syscall's exit" : kill_hook;
                break;
            case Action::isolate:
                m.mechanism = exec ? "sched_process_exec sets the workload isolated; cgroup connect/sendmsg refuse all egress"
                              : slot == RuleSlot::egress ? net_hook + "; the workload is isolated: all further egress refused"
                                                         : "the agent sets the workload isolated when the record arrives; "
                                                           "cgroup connect/sendmsg then refuse all egress";
                break;
            case Action::freeze:
                m.mechanism = (slot == RuleSlot::egress ? net_hook + "; " : std::string()) +
                              "the agent freezes the workload's cgroup (cgroup.freeze) when the record arrives";
                break;
            case Action::deny:
                if (net) {
                    m.mechanism = net_hook;
                } else if (host.bpf_lsm) {
                    m.mechanism = exec ? "BPF-LSM bprm_check_security" : "BPF-LSM file_open";
                } else {
                    m.mechanism = host.fanotify_perm
                                      ? fmt::format("fanotify {} on the protected paths it can mark",
                                                    exec ? "FAN_OPEN_EXEC_PERM" : "FAN_OPEN_PERM")
                                      : "none: no BPF-LSM and no fanotify permission events";
                    m.fallback = m.effective == Action::kill
                                     ? fmt::format("fallback kill: {}", kill_hook)
                                     : "no fallback: alert only where deny does not reach (set fallback: kill to kill)";
                }
                break;
            }
        }
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace mw::policy
