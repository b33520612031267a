// Policy decisions for one workload: given what a watched process did, is it allowed,
// and if not, which catalog rule fired and what the policy says to do about it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "policy/model.hpp"
#include "policy/rules.hpp"

namespace mw::policy {

struct Verdict {
    bool allowed = true;
    const RuleInfo* rule = nullptr;       // set whenever !allowed
    Action configured = Action::alert;    // what the policy's rule says
    Action action = Action::alert;        // what to do now: configured in enforce mode, alert in monitor
    std::string_view matched;             // the sensitive glob that fired, when one did

    std::string_view rule_id() const { return rule ? rule->id : std::string_view(); }
};

// Model artifacts by name: .pt .pth .bin .ckpt .pkl .pickle .joblib .npy .npz .safetensors .gguf
// .onnx .h5 .keras .msgpack (case-insensitive): policy::model_file_extensions(), the list the
// kernel uses to always report such opens. Python's site-packages/*.pth path files are not
// model files. A name is only a hint (a pickle can be called anything): inside models.dirs the
// gate judges files by content; outside them this list is what makes an open a finding.
bool is_model_file(std::string_view path);
// `path` is one of the workload's models.dirs or lies below one (path-component boundary).
bool under_model_dirs(const WorkloadPolicy& w, std::string_view path);

// Builds w's exec_set/read_set/write_set/sensitive_set from its lists; the parser calls it
// for every workload. Call it again after changing a list (evaluation must not depend on
// whether a policy was parsed or built by hand: without sets it walks the lists, same result).
void precompile_paths(WorkloadPolicy& w);

// Paths are the absolute paths the kernel reports. Sensitive paths beat every allow list.
// A read of a model file outside models.dirs (when the workload names any) is MW-MODEL-003
// whatever the read allow list says, with the read rule's action.
Verdict evaluate_exec(const WorkloadPolicy& w, std::string_view path);
// self_pid: the acting process, so /proc/<self>/environ is not a finding (0 = unknown).
Verdict evaluate_open(const WorkloadPolicy& w, std::string_view path, bool write, std::uint32_t self_pid = 0);
Verdict evaluate_unlink(const WorkloadPolicy& w, std::string_view path);
// A rename both removes `from` and creates `to`: both must be writable.
Verdict evaluate_rename(const WorkloadPolicy& w, std::string_view from, std::string_view to);
Verdict evaluate_chmod(const WorkloadPolicy& w, std::string_view path);
// family AF_INET (4 address bytes) or AF_INET6 (16); port in host order. AF_UNIX and
// unknown families are allowed here (they are local IPC, not egress).
Verdict evaluate_connect(const WorkloadPolicy& w, int family, std::span<const std::uint8_t> addr, std::uint16_t port,
                         Protocol proto = Protocol::any);
Verdict evaluate_listen(const WorkloadPolicy& w, std::uint16_t port);

// Events a model server never has a reason for: always findings, with the action the
// nearest policy rule gives (exec action for fileless exec, alert for the others).
Verdict evaluate_fileless_exec(const WorkloadPolicy& w);
Verdict evaluate_memfd_create(const WorkloadPolicy& w);
Verdict evaluate_ptrace(const WorkloadPolicy& w);
Verdict evaluate_process_vm(const WorkloadPolicy& w, bool write);
Verdict evaluate_privilege_change(const WorkloadPolicy& w);
Verdict evaluate_module_load(const WorkloadPolicy& w);
Verdict evaluate_bpf_call(const WorkloadPolicy& w);

}  // namespace mw::policy
