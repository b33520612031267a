// The pipeline: one kernel record in, zero or more SecurityEvents out. It keeps the process
// table current, confirms or drops provisional selector matches, evaluates the workload
// policy, and hands events and alerts to the output. Runs on the single event loop.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "model/security_event.hpp"
#include "pipeline/record_decoder.hpp"
#include "policy/evaluate.hpp"
#include "policy/model.hpp"

namespace mw {

class ProcessTable;

// Where events go (the output fan-out: JSON Lines, spool, sinks).
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void emit(const SecurityEvent& event) = 0;
};

// The kernel's watched-task map, as the pipeline needs it: confirm or drop a selection.
class TaskScope {
public:
    virtual ~TaskScope() = default;
    virtual void watch(std::uint32_t pid, std::uint32_t workload_id) = 0;
    virtual void unwatch(std::uint32_t pid) = 0;
};

// Actions the agent carries out itself when an alert asks for them (freeze; isolate where the
// kernel did not already). Called before the alert is emitted, so the alert says what was
// done: the hook fills event.enforcement (applied, succeeded, detail; it owns the detail text).
class ActionHook {
public:
    virtual ~ActionHook() = default;
    virtual void act(const policy::WorkloadPolicy& workload, std::uint32_t workload_id, const policy::Verdict& verdict,
                     SecurityEvent& event) = 0;
};

struct PipelineStats {
    std::uint64_t records = 0;
    std::uint64_t decode_errors = 0;
    std::uint64_t events = 0;
    std::uint64_t alerts = 0;
    std::uint64_t selections_confirmed = 0;
    std::uint64_t selections_dropped = 0;
    std::uint64_t unattributed = 0;    // records whose process could not be resolved
    std::uint64_t provisional_dropped = 0; // records of prefix-marked tasks the full selector rejected
    std::uint64_t duplicate_kills = 0;  // a second kill record for a process already reported killed
    std::array<std::uint64_t, 64> by_type{};
};

class Pipeline {
public:
    Pipeline(ProcessTable& processes, TaskScope& scope, EventSink& sink);

    // Swaps the policy set (after the kernel maps were swapped). The set must outlive its use.
    void set_policies(const policy::PolicySet* policies) { policies_ = policies; }

    // Freeze/isolate in user space (daemon/enforcement_actions.hpp); nullptr = none.
    void set_action_hook(ActionHook* hook) { action_hook_ = hook; }

    // Realtime minus boot-clock, to turn kernel timestamps into @timestamp.
    void set_clock_offset(std::int64_t realtime_minus_boot_ns) { clock_offset_ns_ = realtime_minus_boot_ns; }

    // One ring-buffer record. Never throws; a bad record is counted and dropped.
    void on_record(std::span<const std::byte> bytes);

    // An alert the agent raises itself (e.g. the model gate refused an open): the process is
    // resolved and chained like a kernel record's. Defined in agent_alerts.cpp.
    struct AgentAlert {
        std::uint32_t pid = 0;
        policy::RuleKind rule = policy::RuleKind::model_not_approved;
        std::string_view category = "file";
        std::string_view action;
        std::string_view file_path;
        std::string_view reason;
        std::string_view enforcement_action = "alert";
        bool applied = false;     // the agent acted (e.g. denied the open)
        bool succeeded = false;
        std::string_view detail;  // enforcement.detail: how it acted ("denied by the agent (fanotify ...)")
        // A caller that is not a local process (control API over TLS): pid 0, these instead.
        std::string_view type;    // ECS event.type ("" = denied when applied, else access)
        Endpoint source;          // the peer's address
        std::string_view user_name;
        std::string_view url_path;
    };
    void report_agent_alert(const AgentAlert& alert);

    // The agent refused a syscall itself (fanotify deny): thread `tid`'s next failed record of
    // `record_type` (FILE_OPEN, EXEC_ATTEMPT) stamped at or after `since_boot_ns` is that
    // syscall, already reported by report_agent_alert: it stays telemetry. Thread-safe.
    void note_agent_refusal(std::uint32_t tid, std::uint16_t record_type, std::uint64_t since_boot_ns);

    // Reports kernel-side losses since the last call as a pipeline_error event.
    void report_lost(std::uint64_t lost_since_last, std::string_view detail);

    const PipelineStats& stats() const { return stats_; }

private:
    void handle_fork(const DecodedRecord& rec);
    void handle_exec(const DecodedRecord& rec);
    void handle_exit(const DecodedRecord& rec);
    void handle_exec_attempt(const DecodedRecord& rec);
    void handle_file(const DecodedRecord& rec);
    void handle_net(const DecodedRecord& rec);
    void handle_syscall(const DecodedRecord& rec);
    void handle_enforcement(const DecodedRecord& rec);
    void handle_seccomp(const DecodedRecord& rec);  // seccomp_records.cpp
    void handle_self_protect(const DecodedRecord& rec);  // self_protect_records.cpp

    // Fills the fields every event shares from the record header.
    SecurityEvent& begin(const DecodedRecord& rec, const Process* process);
    // Emits `event_` as telemetry, or as an alert for `verdict`'s rule when it is a violation.
    void finish(const policy::WorkloadPolicy* workload, const policy::Verdict* verdict);
    const policy::WorkloadPolicy* workload_of(const mw_event_header& h) const;
    std::uint32_t workload_id_of(const mw_event_header& h) const;
    bool provisional_confirmed(const DecodedRecord& rec);
    const Process* resolve(const mw_event_header& h);
    void attach_chain(const Process* process, const policy::WorkloadPolicy* workload);

    ProcessTable& processes_;
    TaskScope& scope_;
    EventSink& sink_;
    const policy::PolicySet* policies_ = nullptr;
    std::int64_t clock_offset_ns_ = 0;
    std::uint64_t sequence_ = 0;
    PipelineStats stats_;

    // Per-record scratch, reused: no allocation per event once warm.
    SecurityEvent event_;
    RuleMatch rule_;
    std::string message_;
    std::array<const Process*, 64> chain_{};
    std::vector<std::string> args_scratch_;
    // Set by begin() for the current record: the kernel acted on this syscall, and its
    // MW_EVENT_ENFORCEMENT record (not this one) carries the one alert.
    bool kernel_enforced_ = false;
    // Set by handle_enforcement while it builds the alert: what the kernel did.
    const mw_enforcement_event* kernel_action_ = nullptr;
    std::string detail_;
    ActionHook* action_hook_ = nullptr;
    // Processes (pid, start time) already reported killed. While a new agent takes over
    // pinned programs, the old programs stay attached until the kernel frees their links
    // (after an RCU grace period and a workqueue run), so for a moment an exec or open passes
    // both generations and is killed and reported twice; a process dies only once.
    std::array<std::pair<std::uint32_t, std::uint64_t>, 64> killed_{};
    std::size_t killed_next_ = 0;
    // note_agent_refusal: written by the fanotify reader thread, read here.
    struct AgentRefusal {
        std::uint32_t tid;
        std::uint16_t record_type;
        std::uint64_t since_boot_ns;
    };
    bool take_agent_refusal(const mw_event_header& h, std::int64_t result);
    std::mutex refusals_mu_;
    std::vector<AgentRefusal> refusals_;
};

}  // namespace mw
