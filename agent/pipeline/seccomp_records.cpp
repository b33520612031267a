// A syscall the workload's seccomp profile blocked or logged (MW_EVENT_SECCOMP): always an alert, with
// the syscall's name from this architecture's table, its arguments and the process chain.
#include <fmt/format.h>

#include "pipeline/pipeline.hpp"
#include "syscalls/syscall_table.hpp"

namespace mw {

void Pipeline::handle_seccomp(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_seccomp_event>();
    const auto& h = ev.hdr;
    auto& e = begin(rec, resolve(h));
    // RET_LOG: the kernel reported it at sys_enter and let it run (bpf/seccomp_learn.bpf.c).
    const bool logged = ev.action == MW_SECCOMP_LOG;
    e.category = "process";
    e.type = logged ? "allowed" : "denied";
    e.action = logged ? "seccomp-logged" : "seccomp-blocked";
    e.outcome = logged ? Outcome::Success : Outcome::Failure;
    if (!logged) e.result = ev.result;  // a logged syscall has not returned yet
    e.syscall_nr = ev.syscall_nr;
    e.syscall_name = syscall_name(ev.syscall_nr);
    e.syscall_args = std::span<const std::uint64_t>(reinterpret_cast<const std::uint64_t*>(ev.args), 6);
    // The filter acted in the kernel: say what it did.
    e.enforcement.action = ev.action == MW_SECCOMP_KILL    ? "kill"
                           : ev.action == MW_SECCOMP_ERRNO ? "deny"
                           : logged                        ? "log"
                                                           : "alert";
    e.enforcement.applied = true;
    e.enforcement.succeeded = true;
    e.enforcement.detail = "seccomp";

    const policy::WorkloadPolicy* workload = workload_of(h);
    policy::Verdict verdict;
    verdict.allowed = false;  // outside the profile either way: the rule fired
    verdict.rule = &policy::rule_info(policy::RuleKind::seccomp_violation);
    verdict.action = ev.action == MW_SECCOMP_KILL ? policy::Action::kill
                     : logged                     ? policy::Action::alert
                                                  : policy::Action::deny;
    verdict.configured = verdict.action;
    finish(workload, &verdict);
}

}  // namespace mw
