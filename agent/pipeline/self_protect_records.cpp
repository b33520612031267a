// Someone went for the agent itself (MW_EVENT_SELF_PROTECT, bpf/self_protect.bpf.c): an alert
// whoever did it, watched or not. Only the supervisor's stop/reload signals and signal 0
// (an existence probe that changes nothing) stay telemetry.
#include <unistd.h>

#include <csignal>

#include <fmt/format.h>

#include "pipeline/pipeline.hpp"
#include "syscalls/syscall_table.hpp"

namespace mw {

namespace {

// The process that started the agent (pid 1 under systemd, the shell or test harness in the
// foreground) stops, reloads and, past its timeout, kills it: that is operation, not attack.
bool supervisor_signal(std::uint32_t sender, int sig) {
    if (sender != static_cast<std::uint32_t>(::getppid())) return false;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
    case SIGHUP:
    case SIGKILL:
    case SIGCONT:
    case SIGABRT:  // systemd's watchdog timeout
        return true;
    default: return false;
    }
}

std::string_view protected_name(std::uint32_t kind) {
    switch (kind) {
    case MW_PROTECTED_BINARY: return "binary";
    case MW_PROTECTED_CONFIG: return "config";
    case MW_PROTECTED_PIN_DIR: return "pin_dir";
    case MW_PROTECTED_SPOOL: return "spool";
    case MW_PROTECTED_AUDIT_LOG: return "audit_log";
    default: return "unknown";
    }
}

}  // namespace

void Pipeline::handle_self_protect(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_self_protect_event>();
    const auto& h = ev.hdr;
    auto& e = begin(rec, resolve(h));
    e.result = ev.result;
    e.outcome = ev.kind == MW_TAMPER_FILE && ev.result != 0 ? (ev.result < 0 ? Outcome::Failure : Outcome::Success)
                                                             : Outcome::Unknown;  // seen at entry
    e.syscall_nr = ev.syscall_nr;
    e.syscall_name = syscall_name(ev.syscall_nr);
    e.syscall_args = std::span<const std::uint64_t>(reinterpret_cast<const std::uint64_t*>(ev.args), 4);
    e.target_pid = ev.target_pid;
    policy::RuleKind rule = policy::RuleKind::self_signal;
    bool alert = true;
    switch (ev.kind) {
    case MW_TAMPER_SIGNAL:
        e.category = "process";
        e.type = "end";
        e.action = "signal-agent";
        alert = ev.signal != 0 && !supervisor_signal(h.pid, ev.signal);
        break;
    case MW_TAMPER_PTRACE:
    case MW_TAMPER_PROCESS_VM:
        e.category = "process";
        e.type = "access";
        e.action = ev.kind == MW_TAMPER_PTRACE ? "ptrace-agent" : "process-vm-agent";
        rule = policy::RuleKind::self_trace;
        break;
    case MW_TAMPER_FILE:
        e.category = "file";
        e.type = "change";
        e.action = "modify-agent-file";
        e.file_path = rec.text[0];
        rule = policy::RuleKind::self_file;
        break;
    case MW_TAMPER_BPF:
        e.category = "process";
        e.type = "change";
        e.action = "detach-agent-bpf";
        rule = policy::RuleKind::self_bpf;
        break;
    default:
        ++stats_.decode_errors;
        return;
    }
    detail_.clear();
    if (ev.kind == MW_TAMPER_SIGNAL)
        fmt::format_to(std::back_inserter(detail_), "signal {} to agent thread {}", ev.signal, ev.target_pid);
    else if (ev.kind == MW_TAMPER_FILE)
        fmt::format_to(std::back_inserter(detail_), "protected {} (inode {})", protected_name(ev.protected_kind),
                       ev.object_id);
    else if (ev.kind == MW_TAMPER_BPF)
        fmt::format_to(std::back_inserter(detail_), "bpf object id {}", ev.object_id);
    else
        fmt::format_to(std::back_inserter(detail_), "agent thread {}", ev.target_pid);
    if (ev.action == MW_ACTION_KILL) {
        // bpf_send_signal at sys_enter: the caller dies on its way back to user space, after
        // the syscall ran; detection and containment, not prevention.
        e.enforcement.action = "kill";
        e.enforcement.applied = true;
        e.enforcement.succeeded = ev.action_result == 0;
        fmt::format_to(std::back_inserter(detail_), "; {} by the kernel at sys_enter (the syscall itself still ran)",
                       ev.action_result == 0 ? "killed" : "kill failed");
    }
    e.enforcement.detail = detail_;
    const policy::WorkloadPolicy* workload = workload_of(h);
    if (!alert) return finish(workload, nullptr);
    policy::Verdict verdict;
    verdict.allowed = false;
    verdict.rule = &policy::rule_info(rule);
    verdict.action = ev.action == MW_ACTION_KILL ? policy::Action::kill : policy::Action::alert;
    verdict.configured = verdict.action;
    finish(workload, &verdict);
}

}  // namespace mw
