// Record -> process table -> policy -> SecurityEvent (see pipeline.hpp).
#include "pipeline/pipeline.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iterator>

#include "process/process_table.hpp"
#include "policy/evaluate.hpp"
#include "policy/rules.hpp"
#include "syscalls/syscall_table.hpp"

namespace mw {

namespace {

bool opens_for_write(std::uint32_t flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

Outcome outcome_of(std::int64_t result) { return result < 0 ? Outcome::Failure : Outcome::Success; }

Endpoint endpoint_of(const mw_sockaddr& sa, std::string_view unix_path) {
    Endpoint e;
    e.family = sa.family;
    e.port = sa.port;
    std::copy(std::begin(sa.addr), std::end(sa.addr), e.addr.begin());
    if (sa.family == AF_UNIX) e.unix_path = unix_path;
    return e;
}

}  // namespace

Pipeline::Pipeline(ProcessTable& processes, TaskScope& scope, EventSink& sink)
    : processes_(processes), scope_(scope), sink_(sink) {
    args_scratch_.reserve(MW_ARGS_MAX_COUNT);
}

void Pipeline::on_record(std::span<const std::byte> bytes) {
    ++stats_.records;
    DecodedRecord rec;
    if (auto err = decode_record(bytes, rec); err != DecodeError::None) {
        ++stats_.decode_errors;
        // Rate-limited by nature: a broken producer shows up in the metric, the first ones in the log.
        if (stats_.decode_errors <= 10)
            spdlog::warn("pipeline: dropping record of {} bytes: {}", bytes.size(), to_string(err));
        return;
    }
    if (rec.type() < stats_.by_type.size()) ++stats_.by_type[rec.type()];
    if (rec.header->workload_id == MW_WORKLOAD_PENDING && rec.type() != MW_EVENT_PROCESS_EXEC &&
        !provisional_confirmed(rec))
        return;
    switch (rec.type()) {
    case MW_EVENT_PROCESS_FORK: return handle_fork(rec);
    case MW_EVENT_PROCESS_EXEC: return handle_exec(rec);
    case MW_EVENT_PROCESS_EXIT: return handle_exit(rec);
    case MW_EVENT_EXEC_ATTEMPT: return handle_exec_attempt(rec);
    case MW_EVENT_FILE_OPEN:
    case MW_EVENT_FILE_UNLINK:
    case MW_EVENT_FILE_RENAME:
    case MW_EVENT_FILE_CHMOD:
    case MW_EVENT_FILE_CHOWN:
    case MW_EVENT_MEMFD_CREATE: return handle_file(rec);
    case MW_EVENT_NET_CONNECT:
    case MW_EVENT_NET_BIND:
    case MW_EVENT_NET_LISTEN:
    case MW_EVENT_NET_ACCEPT:
    case MW_EVENT_NET_SEND: return handle_net(rec);
    case MW_EVENT_PRIV_CHANGE:
    case MW_EVENT_PTRACE:
    case MW_EVENT_PROCESS_VM:
    case MW_EVENT_MODULE_LOAD:
    case MW_EVENT_BPF_CALL: return handle_syscall(rec);
    case MW_EVENT_ENFORCEMENT: return handle_enforcement(rec);
    case MW_EVENT_SECCOMP: return handle_seccomp(rec);
    case MW_EVENT_SELF_PROTECT: return handle_self_protect(rec);
    default: return;
    }
}

// A task marked by the kernel on a selector's literal prefix sends everything until user
// space has run the full selector on its exec record. Records from that window are kept
// when the selection was confirmed and dropped (with the task unmarked, children too) when not.
bool Pipeline::provisional_confirmed(const DecodedRecord& rec) {
    const auto& h = *rec.header;
    const Process* p = processes_.lookup(h.pid);
    if (p && p->workload_id != 0) return true;
    ++stats_.provisional_dropped;
    if (rec.type() == MW_EVENT_PROCESS_FORK) scope_.unwatch(rec.as<mw_fork_event>().child_pid);
    else scope_.unwatch(h.pid);
    return false;
}

std::uint32_t Pipeline::workload_id_of(const mw_event_header& h) const {
    if (h.workload_id != MW_WORKLOAD_PENDING) return h.workload_id;
    const Process* p = processes_.lookup(h.pid);
    return p ? p->workload_id : 0;
}

const policy::WorkloadPolicy* Pipeline::workload_of(const mw_event_header& h) const {
    const std::uint32_t id = workload_id_of(h);
    if (!policies_ || id == 0 || id > policies_->workloads.size()) return nullptr;
    return &policies_->workloads[id - 1];
}

const Process* Pipeline::resolve(const mw_event_header& h) {
    const Process* p = processes_.lookup_or_load(h.pid, h.start_time_ns);
    if (!p) p = processes_.lookup(h.pid);
    if (!p) ++stats_.unattributed;
    // Each record carries the task's real uid/gid now: a setuid since the last record shows here.
    else if (p->uid != h.uid || p->gid != h.gid) {
        if (const Process* changed = processes_.on_creds(h.pid, h.start_time_ns, h.uid, h.gid)) p = changed;
    }
    return p;
}

SecurityEvent& Pipeline::begin(const DecodedRecord& rec, const Process* process) {
    event_ = SecurityEvent{};
    event_.record_type = rec.type();
    event_.timestamp_ns = static_cast<std::uint64_t>(static_cast<std::int64_t>(rec.header->timestamp_ns) + clock_offset_ns_);
    event_.process = process;
    kernel_enforced_ = (rec.header->flags & MW_FLAG_ENFORCED) != 0;
    kernel_action_ = nullptr;
    return event_;
}

void Pipeline::attach_chain(const Process* process, const policy::WorkloadPolicy* workload) {
    if (!process) return;
    const std::size_t n = processes_.ancestors(*process, chain_);
    event_.ancestors = std::span<const Process* const>(chain_.data(), n);
    if (!workload) return;
    event_.workload_name = workload->name;
    // The workload's root: the oldest process in the chain still in this workload.
    const Process* root = process;
    for (std::size_t i = 0; i < n; ++i) {
        if (chain_[i]->workload_id != process->workload_id) break;
        root = chain_[i];
    }
    event_.workload_root = root;
}

void Pipeline::finish(const policy::WorkloadPolicy* workload, const policy::Verdict* verdict) {
    event_.sequence = ++sequence_;
    if (verdict && !verdict->allowed && verdict->rule && !kernel_enforced_) {
        const policy::RuleInfo& info = *verdict->rule;
        rule_ = RuleMatch{};
        rule_.id = info.id;
        rule_.name = info.name;
        rule_.description = info.name;
        rule_.severity = policy::to_string(info.severity);
        rule_.severity_score = static_cast<std::uint8_t>(info.severity);
        rule_.technique_id = info.mitre_id;
        rule_.technique_name = info.mitre_name;
        event_.rule = &rule_;
        event_.kind = EventKind::Alert;
        // The kernel acts before user space sees the record; here the alert says what the
        // policy asked for. Enforcement records (MW_EVENT_ENFORCEMENT) report what was done.
        // Left as set when a kernel filter already acted before the record (seccomp).
        if (!event_.enforcement.applied) event_.enforcement.action = policy::to_string(verdict->action);
        if (kernel_action_) {
            event_.enforcement.applied = true;
            event_.enforcement.succeeded = kernel_action_->result == 0;
            event_.enforcement.detail = detail_;
        }
        message_.clear();
        fmt::format_to(std::back_inserter(message_), "{}: {} {}", info.name, event_.action,
                       !event_.file_path.empty() ? event_.file_path
                       : event_.process          ? std::string_view(event_.process->executable)
                                                 : std::string_view());
        if (!verdict->matched.empty()) fmt::format_to(std::back_inserter(message_), " (matches {})", verdict->matched);
        event_.message = message_;
        attach_chain(event_.process, workload);
        if (action_hook_ && workload && policies_ &&
            (verdict->action == policy::Action::freeze || verdict->action == policy::Action::isolate))
            action_hook_->act(*workload, static_cast<std::uint32_t>(workload - policies_->workloads.data()) + 1,
                              *verdict, event_);
        ++stats_.alerts;
    } else {
        event_.kind = EventKind::Event;
        if (workload) event_.workload_name = workload->name;
        ++stats_.events;
    }
    sink_.emit(event_);
}

void Pipeline::handle_fork(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_fork_event>();
    const auto& h = ev.hdr;
    ForkInfo info;
    info.timestamp_ns = h.timestamp_ns;
    info.parent_pid = h.pid;
    info.parent_start_time_ns = h.start_time_ns;
    info.child_pid = ev.child_pid;
    info.child_start_time_ns = ev.child_start_time_ns;
    info.uid = h.uid;
    info.gid = h.gid;
    info.cgroup_id = h.cgroup_id;
    info.workload_id = workload_id_of(h);
    const Process* child = processes_.on_fork(info);
    if (!child) return;
    auto& e = begin(rec, child);
    e.category = "process";
    e.type = "start";
    e.action = "fork";
    e.outcome = Outcome::Success;
    finish(workload_of(h), nullptr);
}

void Pipeline::handle_exec(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_exec_event>();
    const auto& h = ev.hdr;
    ExecInfo info;
    info.timestamp_ns = h.timestamp_ns;
    info.pid = h.pid;
    info.start_time_ns = h.start_time_ns;
    info.ppid = h.ppid;
    info.executable = rec.text[0];
    info.argv = rec.args_blob;
    info.args_truncated = (h.flags & MW_FLAG_TRUNCATED) != 0;
    info.cwd = rec.text[2];
    info.comm = std::string_view(h.comm, strnlen(h.comm, sizeof(h.comm)));
    info.uid = h.uid;
    info.gid = h.gid;
    info.cgroup_id = h.cgroup_id;

    // HOST_WIDE on an exec: the kernel marked this task at this exec, by a selector's literal
    // exe prefix (workload PENDING) or by its cgroup. The full selector decides here.
    if (h.flags & MW_FLAG_HOST_WIDE) {
        const policy::WorkloadPolicy* selected = nullptr;
        std::uint32_t selected_id = 0;
        if (policies_) {
            const Process* known = processes_.lookup(h.pid);
            args_scratch_.clear();
            for_each_arg(rec.args_blob, [&](std::string_view a) { args_scratch_.emplace_back(a); });
            policy::ProcessFacts facts{info.executable, args_scratch_,
                                       known ? std::string_view(known->cgroup_path) : std::string_view()};
            selected_id = policies_->select_id(facts);
            if (selected_id) selected = &policies_->workloads[selected_id - 1];
        }
        info.workload_id = selected_id;
        const Process* p = processes_.on_exec(info);
        if (!selected) {
            scope_.unwatch(h.pid);
            ++stats_.selections_dropped;
            return;
        }
        scope_.watch(h.pid, selected_id);
        ++stats_.selections_confirmed;
        // The exec that made a process a workload is its start, not a violation.
        auto& e = begin(rec, p);
        e.category = "process";
        e.type = "start";
        e.action = "exec";
        e.outcome = Outcome::Success;
        finish(selected, nullptr);
        return;
    }

    // A member's exec (inherited at fork). Forked while its parent was still provisional, it
    // carries PENDING: its workload is the parent's, as confirmed (or not) since.
    info.workload_id = workload_id_of(h);
    if (h.workload_id == MW_WORKLOAD_PENDING) {
        if (info.workload_id == 0) {
            scope_.unwatch(h.pid);
            ++stats_.provisional_dropped;
            return;
        }
        scope_.watch(h.pid, info.workload_id);
    }
    const Process* p = processes_.on_exec(info);
    const auto* workload = workload_of(h);
    auto& e = begin(rec, p);
    e.category = "process";
    e.type = "start";
    e.action = "exec";
    e.outcome = Outcome::Success;
    if (!workload) return finish(nullptr, nullptr);
    const auto verdict = policy::evaluate_exec(*workload, info.executable);
    finish(workload, &verdict);
}

void Pipeline::handle_exit(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_exit_event>();
    const auto& h = ev.hdr;
    ExitInfo info{h.timestamp_ns, h.pid, h.start_time_ns, ev.exit_code};
    const Process* p = processes_.on_exit(info);
    auto& e = begin(rec, p);
    e.category = "process";
    e.type = "end";
    e.action = "exit";
    e.outcome = Outcome::Success;
    finish(workload_of(h), nullptr);
    processes_.reap(h.timestamp_ns);
}

void Pipeline::handle_exec_attempt(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_exec_attempt_event>();
    const auto& h = ev.hdr;
    auto& e = begin(rec, resolve(h));
    e.category = "process";
    e.type = "start";
    e.action = (ev.at_flags & AT_EMPTY_PATH) ? "execveat-fd" : "exec";
    e.outcome = outcome_of(ev.result);
    e.result = ev.result;
    e.file_path = rec.text[0];
    if (take_agent_refusal(h, ev.result)) kernel_enforced_ = true;  // its alert is out already
    const auto* workload = workload_of(h);
    if (!workload) return finish(nullptr, nullptr);
    const auto verdict = (ev.at_flags & AT_EMPTY_PATH) ? policy::evaluate_fileless_exec(*workload)
                                                        : policy::evaluate_exec(*workload, rec.text[0]);
    finish(workload, &verdict);
}

void Pipeline::handle_file(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_file_event>();
    const auto& h = ev.hdr;
    auto& e = begin(rec, resolve(h));
    e.category = "file";
    e.outcome = outcome_of(ev.result);
    e.result = ev.result;
    e.file_path = rec.text[0];
    e.file_target_path = rec.text[1];
    e.open_flags = ev.open_flags;
    e.file_mode = ev.mode;
    const auto* workload = workload_of(h);
    policy::Verdict verdict;
    switch (rec.type()) {
    case MW_EVENT_FILE_OPEN: {
        const bool write = opens_for_write(ev.open_flags);
        e.action = "open";
        e.type = (ev.open_flags & O_CREAT) ? "creation" : "access";
        if (take_agent_refusal(h, ev.result)) kernel_enforced_ = true;  // its alert is out already
        if (workload) verdict = policy::evaluate_open(*workload, e.file_path, write, h.pid);
        break;
    }
    case MW_EVENT_FILE_UNLINK:
        e.action = "unlink";
        e.type = "deletion";
        if (workload) verdict = policy::evaluate_unlink(*workload, e.file_path);
        break;
    case MW_EVENT_FILE_RENAME:
        e.action = "rename";
        e.type = "change";
        if (workload) verdict = policy::evaluate_rename(*workload, e.file_path, e.file_target_path);
        break;
    case MW_EVENT_FILE_CHMOD:
        e.action = "chmod";
        e.type = "change";
        if (workload) verdict = policy::evaluate_chmod(*workload, e.file_path);
        break;
    case MW_EVENT_FILE_CHOWN:
        e.action = "chown";
        e.type = "change";
        if (workload) verdict = policy::evaluate_chmod(*workload, e.file_path);
        break;
    case MW_EVENT_MEMFD_CREATE:
        e.action = "memfd_create";
        e.type = "creation";
        e.file_target_path = {};
        e.file_path = rec.text[0];
        if (workload) verdict = policy::evaluate_memfd_create(*workload);
        break;
    default: break;
    }
    finish(workload, workload ? &verdict : nullptr);
}

void Pipeline::handle_net(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_net_event>();
    const auto& h = ev.hdr;
    auto& e = begin(rec, resolve(h));
    e.category = "network";
    e.outcome = outcome_of(ev.result);
    e.result = ev.result;
    e.source = endpoint_of(ev.local, rec.text[0]);
    e.destination = endpoint_of(ev.remote, rec.text[0]);
    e.socket_type = ev.socket_type;
    const auto* workload = workload_of(h);
    policy::Verdict verdict;
    switch (rec.type()) {
    case MW_EVENT_NET_CONNECT:
    case MW_EVENT_NET_SEND:
        e.action = rec.type() == MW_EVENT_NET_CONNECT ? "connect" : "send";
        e.type = "connection";
        e.source = Endpoint{};
        if (workload && (ev.remote.family == AF_INET || ev.remote.family == AF_INET6)) {
            const std::size_t len = ev.remote.family == AF_INET ? 4 : 16;
            verdict = policy::evaluate_connect(*workload, ev.remote.family, std::span(ev.remote.addr, len),
                                               ev.remote.port);
        }
        break;
    case MW_EVENT_NET_BIND:
    case MW_EVENT_NET_LISTEN:
        e.action = rec.type() == MW_EVENT_NET_BIND ? "bind" : "listen";
        e.type = "start";
        e.destination = Endpoint{};
        if (workload && (ev.local.family == AF_INET || ev.local.family == AF_INET6))
            verdict = policy::evaluate_listen(*workload, ev.local.port);
        break;
    case MW_EVENT_NET_ACCEPT:
        e.action = "accept";
        e.type = "connection";
        break;
    default: break;
    }
    finish(workload, workload ? &verdict : nullptr);
}

void Pipeline::handle_syscall(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_syscall_event>();
    const auto& h = ev.hdr;
    auto& e = begin(rec, resolve(h));
    e.outcome = outcome_of(ev.result);
    e.result = ev.result;
    e.syscall_nr = ev.syscall_nr;
    e.syscall_args = std::span<const std::uint64_t>(reinterpret_cast<const std::uint64_t*>(ev.args), 6);
    e.target_pid = ev.target_pid;
    e.file_path = rec.text[0];
    e.syscall_name = syscall_name(ev.syscall_nr);
    const auto* workload = workload_of(h);
    policy::Verdict verdict;
    switch (rec.type()) {
    case MW_EVENT_PRIV_CHANGE:
        e.category = "iam";
        e.type = "change";
        e.action = "privilege-change";
        if (workload) verdict = policy::evaluate_privilege_change(*workload);
        break;
    case MW_EVENT_PTRACE:
        e.category = "process";
        e.type = "access";
        e.action = "ptrace";
        if (workload) verdict = policy::evaluate_ptrace(*workload);
        break;
    case MW_EVENT_PROCESS_VM:
        e.category = "process";
        e.type = "access";
        e.action = "process-vm";
        if (workload) verdict = policy::evaluate_process_vm(*workload, e.syscall_name == "process_vm_writev");
        break;
    case MW_EVENT_MODULE_LOAD:
        e.category = "driver";
        e.type = "start";
        e.action = "module-load";
        if (workload) verdict = policy::evaluate_module_load(*workload);
        break;
    case MW_EVENT_BPF_CALL:
        e.category = "process";
        e.type = "info";
        e.action = "bpf";
        if (workload) verdict = policy::evaluate_bpf_call(*workload);
        break;
    default: break;
    }
    // Without a workload these are host-wide telemetry (module loads, bpf() by anyone).
    finish(workload, workload ? &verdict : nullptr);
}

// The kernel acted on a violation (kill, deny, isolate): this record is the one alert for
// it (the syscall's own record carries MW_FLAG_ENFORCED and stays telemetry). The rule is
// the policy's for the cause; the action and its result are what the kernel did.
void Pipeline::handle_enforcement(const DecodedRecord& rec) {
    const auto& ev = rec.as<mw_enforcement_event>();
    const auto& h = ev.hdr;
    if (ev.action == MW_ACTION_KILL) {
        const std::pair<std::uint32_t, std::uint64_t> who{h.pid, h.start_time_ns};
        if (std::find(killed_.begin(), killed_.end(), who) != killed_.end()) {
            ++stats_.duplicate_kills;  // see killed_ in pipeline.hpp
            return;
        }
        killed_[killed_next_++ % killed_.size()] = who;
    }
    auto& e = begin(rec, resolve(h));
    kernel_enforced_ = false;
    e.result = ev.result;
    e.outcome = Outcome::Failure;  // the violating action did not take effect (or the process died)
    const auto* workload = workload_of(h);
    policy::Verdict verdict;
    policy::RuleKind fallback = policy::RuleKind::exec_not_allowed;
    std::string_view hook;
    switch (ev.cause_type) {
    case MW_EVENT_PROCESS_EXEC:
    case MW_EVENT_EXEC_ATTEMPT:
        e.category = "process";
        e.type = "start";
        e.action = "exec";
        e.file_path = rec.text[0];
        hook = ev.cause_type == MW_EVENT_PROCESS_EXEC ? "sched_process_exec" : "lsm/bprm_check_security";
        if (workload) verdict = policy::evaluate_exec(*workload, e.file_path);
        break;
    case MW_EVENT_FILE_OPEN: {
        const bool write = opens_for_write(ev.open_flags);
        e.category = "file";
        e.type = "access";
        e.action = "open";
        e.file_path = rec.text[0];
        e.open_flags = ev.open_flags;
        hook = ev.action == MW_ACTION_KILL ? "sys_exit_openat" : "lsm/file_open";
        fallback = write ? policy::RuleKind::file_write_not_allowed : policy::RuleKind::file_read_not_allowed;
        if (workload) verdict = policy::evaluate_open(*workload, e.file_path, write, h.pid);
        break;
    }
    case MW_EVENT_NET_CONNECT:
    case MW_EVENT_NET_SEND: {
        e.category = "network";
        e.type = "connection";
        e.action = ev.cause_type == MW_EVENT_NET_CONNECT ? "connect" : "send";
        e.destination = endpoint_of(ev.addr, {});
        e.socket_type = ev.socket_type;
        hook = ev.cause_type == MW_EVENT_NET_CONNECT ? "cgroup/connect" : "cgroup/sendmsg";
        fallback = policy::RuleKind::egress_not_allowed;
        if (workload && (ev.addr.family == AF_INET || ev.addr.family == AF_INET6))
            verdict = policy::evaluate_connect(*workload, ev.addr.family,
                                               std::span(ev.addr.addr, ev.addr.family == AF_INET ? 4u : 16u),
                                               ev.addr.port);
        break;
    }
    case MW_EVENT_NET_BIND:
        e.category = "network";
        e.type = "start";
        e.action = "bind";
        e.source = endpoint_of(ev.addr, {});
        e.socket_type = ev.socket_type;
        hook = "cgroup/bind";
        fallback = policy::RuleKind::listen_not_allowed;
        if (workload) verdict = policy::evaluate_listen(*workload, ev.addr.port);
        break;
    default: break;
    }
    // The kernel decided from the compiled maps; should user space read the policy
    // differently, the alert still names the kind of rule the kernel applied.
    if (verdict.allowed || !verdict.rule) {
        verdict.allowed = false;
        verdict.rule = &policy::rule_info(fallback);
    }
    verdict.action = static_cast<policy::Action>(ev.action);
    const char* done = ev.action == MW_ACTION_KILL      ? "killed"
                       : ev.action == MW_ACTION_ISOLATE ? "isolated"
                                                        : "denied";
    detail_.clear();
    if (ev.result == 0) {
        fmt::format_to(std::back_inserter(detail_), "{} by the kernel ({})", done, hook);
        if (ev.action == MW_ACTION_ISOLATE && ev.cause_type != MW_EVENT_PROCESS_EXEC)
            detail_ += "; this egress denied, all further egress denied";
    } else {
        fmt::format_to(std::back_inserter(detail_), "{} failed ({}): {}", ev.action == MW_ACTION_KILL ? "kill" : "action",
                       hook, std::strerror(-ev.result));
    }
    kernel_action_ = &ev;
    finish(workload, &verdict);
    kernel_action_ = nullptr;
}

void Pipeline::report_lost(std::uint64_t lost_since_last, std::string_view detail) {
    event_ = SecurityEvent{};
    event_.kind = EventKind::PipelineError;
    event_.sequence = ++sequence_;
    struct timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    event_.timestamp_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
    event_.category = "host";
    event_.type = "info";
    event_.action = "events-lost";
    event_.outcome = Outcome::Failure;
    event_.lost_events = lost_since_last;
    event_.message = detail;
    sink_.emit(event_);
}

}  // namespace mw
