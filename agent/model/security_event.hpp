// SecurityEvent: one normalized event or alert, as a view. The pipeline fills it per kernel
// record without allocating (strings point into the record or the ProcessTable) and every
// encoder (ECS JSON, OCSF) reads it. Valid only for the duration of the encode call.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "model/process.hpp"

namespace mw {

enum class EventKind : std::uint8_t {
    Event,   // telemetry (ECS event.kind "event")
    Alert,   // a policy violation or enforcement (ECS event.kind "alert")
    PipelineError,  // the agent lost or rejected data, e.g. kernel ring-buffer drops (ECS "pipeline_error")
};

enum class Outcome : std::uint8_t { Unknown, Success, Failure };

struct Endpoint {
    std::uint16_t family = 0;               // AF_INET, AF_INET6, AF_UNIX; 0 = absent
    std::uint16_t port = 0;                 // host byte order
    std::array<std::uint8_t, 16> addr{};    // network byte order; IPv4 in the first 4 bytes
    std::string_view unix_path;             // AF_UNIX only ('@' prefix = abstract)
    bool present() const { return family != 0; }
};

// The policy rule an alert comes from (ECS rule.*, threat.*).
struct RuleMatch {
    std::string_view id;                    // stable, e.g. "MW-EXEC-001"
    std::string_view name;
    std::string_view description;
    std::string_view severity;              // "low" | "medium" | "high" | "critical"
    std::uint8_t severity_score = 0;        // ECS event.severity (0-100)
    std::string_view technique_id;          // MITRE ATT&CK, e.g. "T1059"
    std::string_view technique_name;
    std::string_view tactic_name;
};

// What the agent or the kernel did about an alert.
struct Enforcement {
    std::string_view action;                // "alert" | "deny" | "kill" | "freeze" | "isolate"
    bool applied = false;                   // the action was carried out
    bool succeeded = false;
    std::string_view detail;                // errno text or mechanism when relevant
};

struct SecurityEvent {
    std::uint64_t sequence = 0;             // per-agent monotonic; with the agent id, ECS event.id
    EventKind kind = EventKind::Event;
    std::uint16_t record_type = 0;          // enum mw_event_type of the source record (0 = agent-made)
    std::uint64_t timestamp_ns = 0;         // realtime (Unix epoch) ns

    // ECS categorization. category/type are ECS allowed values; action is modelwarden's verb.
    std::string_view category;              // "process" | "file" | "network" | "intrusion_detection" | ...
    std::string_view type;                  // "start" | "end" | "access" | "creation" | "deletion" | "change" | "connection" | "info" | ...
    std::string_view action;                // "exec", "fork", "exit", "open", "unlink", "connect", ...
    Outcome outcome = Outcome::Unknown;
    std::int64_t result = 0;                // syscall return (negative errno on failure)
    std::string_view message;

    const Process* process = nullptr;       // the acting process
    std::span<const Process* const> ancestors; // parent first, up to init; alerts always carry it

    // file
    std::string_view file_path;
    std::string_view file_target_path;      // rename destination, memfd name
    std::uint32_t open_flags = 0;
    std::uint32_t file_mode = 0;

    // network
    Endpoint source;                        // local side
    Endpoint destination;                   // remote side
    std::uint32_t socket_type = 0;          // SOCK_STREAM / SOCK_DGRAM

    // security syscalls (privilege changes, ptrace, process_vm, module load, bpf)
    std::uint32_t syscall_nr = 0;
    std::string_view syscall_name;
    std::uint32_t target_pid = 0;
    std::span<const std::uint64_t> syscall_args;

    // control API callers (agent-made alerts; no process)
    std::string_view user_name;             // ECS user.name: the client certificate's CN
    std::string_view url_path;              // ECS url.path of the request

    // alerts
    const RuleMatch* rule = nullptr;
    Enforcement enforcement;
    std::string_view workload_name;         // modelwarden.workload.name
    std::uint64_t lost_events = 0;          // PipelineError: records the kernel could not deliver since the last report
    const Process* workload_root = nullptr; // modelwarden.workload.root
};

}  // namespace mw
