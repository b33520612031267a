// The one table of rule ids. Techniques are the closest ATT&CK entry to what a model
// server doing this most likely means (a payload in a checkpoint acting on the host).
#include "policy/rules.hpp"

#include <array>

namespace mw::policy {

namespace {
using enum RuleKind;
constexpr std::array kCatalog{
    RuleInfo{exec_not_allowed, "MW-EXEC-001", "workload executed a program outside its allow list", Severity::high,
             "T1059", "Command and Scripting Interpreter"},
    RuleInfo{fileless_exec, "MW-EXEC-002", "fileless execution from an anonymous file", Severity::critical, "T1620",
             "Reflective Code Loading"},
    RuleInfo{memfd_create, "MW-EXEC-003", "workload created an anonymous in-memory file", Severity::medium, "T1620",
             "Reflective Code Loading"},
    RuleInfo{file_read_not_allowed, "MW-FILE-001", "workload read a file outside its allow list", Severity::medium,
             "T1005", "Data from Local System"},
    RuleInfo{file_write_not_allowed, "MW-FILE-002", "workload wrote a file outside its allow list", Severity::high,
             "T1565.001", "Data Manipulation: Stored Data Manipulation"},
    RuleInfo{sensitive_file_access, "MW-FILE-003", "workload accessed a credential or secret file", Severity::critical,
             "T1552.001", "Unsecured Credentials: Credentials In Files"},
    RuleInfo{proc_memory_access, "MW-FILE-004", "workload accessed another process's memory or environment",
             Severity::critical, "T1003.007", "OS Credential Dumping: Proc Filesystem"},
    RuleInfo{file_chmod_not_allowed, "MW-FILE-005", "workload changed permissions outside its write allow list",
             Severity::high, "T1222.002", "File and Directory Permissions Modification: Linux and Mac"},
    RuleInfo{file_unlink_not_allowed, "MW-FILE-006", "workload deleted a file outside its write allow list",
             Severity::high, "T1070.004", "Indicator Removal: File Deletion"},
    RuleInfo{egress_not_allowed, "MW-NET-001", "workload connected to a destination outside its allow list",
             Severity::high, "T1071", "Application Layer Protocol"},
    RuleInfo{listen_not_allowed, "MW-NET-002", "workload listened on a port outside its allow list", Severity::high,
             "T1571", "Non-Standard Port"},
    RuleInfo{ptrace, "MW-PROC-001", "workload used ptrace", Severity::critical, "T1055.008",
             "Process Injection: Ptrace System Calls"},
    RuleInfo{process_vm_write, "MW-PROC-002", "workload wrote another process's memory", Severity::critical, "T1055",
             "Process Injection"},
    RuleInfo{process_vm_read, "MW-PROC-003", "workload read another process's memory", Severity::high, "T1003",
             "OS Credential Dumping"},
    RuleInfo{privilege_change, "MW-PRIV-001", "workload changed its user ids or capabilities", Severity::high,
             "T1548", "Abuse Elevation Control Mechanism"},
    RuleInfo{module_load, "MW-KERN-001", "kernel module load attempt", Severity::critical, "T1547.006",
             "Boot or Logon Autostart Execution: Kernel Modules and Extensions"},
    RuleInfo{bpf_call, "MW-KERN-002", "bpf() called by a process other than the agent", Severity::high, "T1014",
             "Rootkit"},
    RuleInfo{model_not_approved, "MW-MODEL-001",
             "workload opened a model file that is not approved (manifest hash, signature, scan or model card)",
             Severity::critical, "T1195", "Supply Chain Compromise"},
    RuleInfo{model_tampered, "MW-MODEL-002", "a file under a model directory was written", Severity::high,
             "T1565.001", "Data Manipulation: Stored Data Manipulation"},
    // Self-protection: the agent is the host's security control; tampering with it is news
    // whoever does it, watched or not.
    RuleInfo{self_signal, "MW-SELF-001", "a process sent a signal to the agent", Severity::critical, "T1562.001",
             "Impair Defenses: Disable or Modify Tools"},
    RuleInfo{self_trace, "MW-SELF-002", "a process traced or accessed the agent's memory", Severity::critical,
             "T1562.001", "Impair Defenses: Disable or Modify Tools"},
    RuleInfo{self_file, "MW-SELF-003", "a process modified the agent's binary, configuration, pins, spool or audit log",
             Severity::critical, "T1562.001", "Impair Defenses: Disable or Modify Tools"},
    RuleInfo{self_bpf, "MW-SELF-004", "a process detached or replaced the agent's BPF programs", Severity::critical,
             "T1562.001", "Impair Defenses: Disable or Modify Tools"},
    // "No card, no deploy": weights loaded from outside the approved directories bypass the gate.
    RuleInfo{model_outside_dirs, "MW-MODEL-003", "workload opened a model file outside its approved model directories",
             Severity::high, "T1195", "Supply Chain Compromise"},
    // A refused control-API call is someone holding credentials (or trying without) reaching
    // for more than they were granted: policy changes are how enforcement is switched off.
    RuleInfo{api_call_refused, "MW-API-001", "control API call refused: no valid certificate or insufficient role",
             Severity::medium, "T1078", "Valid Accounts"},
    // The syscalls a learned profile leaves out are mostly kernel and escape primitives.
    RuleInfo{seccomp_violation, "MW-SECCOMP-001", "syscall blocked by the workload's seccomp profile",
             Severity::high, "T1611", "Escape to Host"},
};
}  // namespace

static_assert([] {
    for (std::size_t i = 0; i < kCatalog.size(); ++i)
        if (static_cast<std::size_t>(kCatalog[i].kind) != i) return false;
    return true;
}(), "kCatalog must be in RuleKind order");

const RuleInfo& rule_info(RuleKind kind) { return kCatalog[static_cast<std::size_t>(kind)]; }

std::span<const RuleInfo> rule_catalog() { return kCatalog; }

std::string_view to_string(Severity s) {
    switch (s) {
    case Severity::low: return "low";
    case Severity::medium: return "medium";
    case Severity::high: return "high";
    case Severity::critical: return "critical";
    }
    return "unknown";
}

}  // namespace mw::policy
