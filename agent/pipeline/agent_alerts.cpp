// Alerts raised by the agent itself rather than by a kernel record (see Pipeline::report_agent_alert).
#include <cerrno>
#include <ctime>

#include <sys/socket.h>

#include <fmt/format.h>

#include "pipeline/pipeline.hpp"
#include "process/process_table.hpp"

namespace mw {

void Pipeline::report_agent_alert(const AgentAlert& alert) {
    event_ = SecurityEvent{};
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    event_.timestamp_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
    const Process* p = alert.pid != 0 ? processes_.lookup_or_load(alert.pid) : nullptr;
    event_.process = p;
    event_.category = alert.category;
    event_.type = !alert.type.empty() ? alert.type : alert.applied ? "denied" : "access";
    event_.action = alert.action;
    event_.outcome = alert.applied && alert.succeeded ? Outcome::Failure : Outcome::Success;
    event_.file_path = alert.file_path;
    event_.source = alert.source;
    if (alert.source.present()) event_.socket_type = SOCK_STREAM;
    event_.user_name = alert.user_name;
    event_.url_path = alert.url_path;

    const policy::WorkloadPolicy* workload = nullptr;
    if (p && policies_ && p->workload_id > 0 && p->workload_id <= policies_->workloads.size())
        workload = &policies_->workloads[p->workload_id - 1];

    const policy::RuleInfo& info = policy::rule_info(alert.rule);
    rule_ = RuleMatch{};
    rule_.id = info.id;
    rule_.name = info.name;
    rule_.description = alert.reason;
    rule_.severity = policy::to_string(info.severity);
    rule_.severity_score = static_cast<std::uint8_t>(info.severity);
    rule_.technique_id = info.mitre_id;
    rule_.technique_name = info.mitre_name;
    event_.rule = &rule_;
    event_.kind = EventKind::Alert;
    event_.enforcement.action = alert.enforcement_action;
    event_.enforcement.applied = alert.applied;
    event_.enforcement.succeeded = alert.succeeded;
    event_.enforcement.detail = alert.detail;
    message_.clear();
    fmt::format_to(std::back_inserter(message_), "{}: {} ({})", info.name,
                   alert.file_path.empty() ? alert.url_path : alert.file_path, alert.reason);
    event_.message = message_;
    event_.sequence = ++sequence_;
    attach_chain(p, workload);
    ++stats_.alerts;
    sink_.emit(event_);
}

void Pipeline::note_agent_refusal(std::uint32_t tid, std::uint16_t record_type, std::uint64_t since_boot_ns) {
    std::lock_guard lock(refusals_mu_);
    // Bounded: a refusal whose record never comes (the kernel dropped it) must not pile up.
    if (refusals_.size() >= 256) refusals_.erase(refusals_.begin());
    refusals_.push_back({tid, record_type, since_boot_ns});
}

// The thread was blocked in the refused syscall when the refusal was noted, so its first
// -EPERM record of that type stamped afterwards is that syscall's exit.
bool Pipeline::take_agent_refusal(const mw_event_header& h, std::int64_t result) {
    if (result != -EPERM) return false;
    std::lock_guard lock(refusals_mu_);
    for (auto it = refusals_.begin(); it != refusals_.end(); ++it) {
        if (it->tid != h.tid || it->record_type != h.type || h.timestamp_ns < it->since_boot_ns) continue;
        refusals_.erase(it);
        return true;
    }
    return false;
}

}  // namespace mw
