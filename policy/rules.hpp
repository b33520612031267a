// The rule catalog: every finding the policy engine can raise, with its stable id,
// severity and MITRE ATT&CK technique. Ids never change meaning once shipped.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace mw::policy {

enum class RuleKind : std::uint8_t {
    exec_not_allowed,
    fileless_exec,
    memfd_create,
    file_read_not_allowed,
    file_write_not_allowed,
    sensitive_file_access,
    proc_memory_access,
    file_chmod_not_allowed,
    file_unlink_not_allowed,
    egress_not_allowed,
    listen_not_allowed,
    ptrace,
    process_vm_write,
    process_vm_read,
    privilege_change,
    module_load,
    bpf_call,
    model_not_approved,
    model_tampered,
    self_signal,         // someone signalled the agent (MW-SELF-001..004: self-protection)
    self_trace,
    self_file,
    self_bpf,
    model_outside_dirs,  // MW-MODEL-003: a model-extension file opened outside models.dirs
    api_call_refused,    // MW-API-001: the control API refused a caller (role, certificate)
    seccomp_violation,   // keep last: the catalog test counts up to it
};

// Numeric values follow ECS event.severity conventions (higher = worse).
enum class Severity : std::uint8_t { low = 21, medium = 47, high = 73, critical = 99 };
std::string_view to_string(Severity s);

struct RuleInfo {
    RuleKind kind;
    std::string_view id;           // "MW-EXEC-001"
    std::string_view name;         // short, for rule.name
    Severity severity;
    std::string_view mitre_id;     // "T1059"
    std::string_view mitre_name;   // "Command and Scripting Interpreter"
};

const RuleInfo& rule_info(RuleKind kind);
std::span<const RuleInfo> rule_catalog();

}  // namespace mw::policy
