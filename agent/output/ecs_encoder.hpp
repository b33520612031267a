// EcsEncoder: one SecurityEvent -> one line of ECS 9.4.0 JSON (nested objects, no dotted keys).
// Fields ECS lacks (process chain, workload, enforcement, syscall detail) live under modelwarden.*.
#pragma once

#include <cstdint>
#include <string>

#include "model/security_event.hpp"
#include "output/host_info.hpp"
#include "output/json_text.hpp"

namespace mw {

inline constexpr std::string_view kEcsVersion = "9.4.0";

struct EcsEncoderOptions {
    // event.created (when the agent made the record); injectable so tests are exact.
    std::uint64_t (*clock)() = nullptr;   // nullptr = CLOCK_REALTIME
    std::size_t max_ancestors = 64;       // modelwarden.ancestors entries
};

class EcsEncoder {
public:
    EcsEncoder(HostInfo host, AgentInfo agent, EcsEncoderOptions options = {});

    // Replaces the contents of `out` with the event's JSON, without a trailing newline.
    // Reuse `out` across calls: once its capacity has grown, encoding does not allocate.
    // This is the hot path.
    //
    // event.category / event.type may hold several ECS values separated by ','
    // (e.g. "file,intrusion_detection"): each becomes one array element.
    void encode(const SecurityEvent& event, json::JsonLine& out) const;
    // Convenience for tests and cold paths: encodes into an internal buffer, then copies
    // (no allocation once `out` has capacity). Not thread-safe: one encoder per thread.
    void encode(const SecurityEvent& event, std::string& out) const;

    // ECS event.id for a sequence number, exactly as encode() writes it (spool and sinks key on it).
    void format_event_id(std::uint64_t sequence, std::string& out) const;

    const HostInfo& host() const { return host_; }
    const AgentInfo& agent() const { return agent_; }

private:
    HostInfo host_;
    AgentInfo agent_;
    EcsEncoderOptions options_;
    std::string host_agent_json_;   // pre-rendered "host":{...},"agent":{...}
    std::string event_id_prefix_;   // agent id + '-'
    mutable json::JsonLine scratch_;
};

}  // namespace mw
