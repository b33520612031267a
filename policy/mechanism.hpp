// Which kernel mechanism carries out each rule's action on this host, and what a rule's
// `fallback:` turns an action into where the host cannot carry it out (issue 3).
#pragma once

#include <string>
#include <vector>

#include "policy/model.hpp"

namespace mw::policy {

// What the running kernel offers for enforcement (from sensors::probe(): "bpf_lsm",
// "fanotify_perm"). Tracepoint kill and the cgroup sock_addr hooks are always there.
struct HostMechanisms {
    bool bpf_lsm = false;        // file_open / bprm_check_security deny in the kernel
    bool fanotify_perm = false;  // FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM on the protected paths
};

// The mechanisms the kernel-map compiler assumes. The agent sets them once at start-up from
// the probe, before the first policy load; until then (tools, tests) BPF-LSM is assumed, so
// `deny` stays `deny` and compiling does not depend on the machine it runs on.
void set_host_mechanisms(const HostMechanisms& m);
const HostMechanisms& host_mechanisms();

// The action the kernel maps carry for a rule on a host: `deny` on a file or exec rule
// becomes `kill` when the host has no BPF-LSM and the rule's fallback is kill. fanotify
// (where it covers a path) still denies first: the tracepoint kill acts only on an open that
// succeeded, so it backs up the paths fanotify cannot mark (/proc, filesystems that refuse
// permission events, globs too wide to mark).
Action effective_action(const WorkloadPolicy& w, RuleSlot slot, const HostMechanisms& host);

struct RuleMechanism {
    RuleSlot slot;
    Action configured = Action::alert;
    Action effective = Action::alert;  // what the kernel maps say on this host
    std::string mechanism;             // "BPF-LSM file_open", "tracepoint kill (sched_process_exec)", ...
    std::string fallback;              // what happens where the mechanism does not reach
};

// One entry per rule slot (exec, read, write, sensitive, egress, listen), in that order.
std::vector<RuleMechanism> rule_mechanisms(const WorkloadPolicy& w, const HostMechanisms& host);

}  // namespace mw::policy
