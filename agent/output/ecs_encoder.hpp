// EcsEncoder: one SecurityEvent -> one line of ECS 9.4.0 JSON (nested objects, no dotted keys).
// Fields ECS lacks (process chain, workload, enforcement, syscall detail) live under modelwarden.*.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/security_event.hpp"
#include "output/host_info.hpp"
#include "output/json_text.hpp"

namespace mw {

inline constexpr std::string_view kEcsVersion = "9.4.0";

struct EcsEncoderOptions {
    // event.created (when the agent made the record); injectable so tests are exact.
    std::uint64_t (*clock)() = nullptr;   // nullptr = CLOCK_REALTIME
    std::size_t max_ancestors = 64;       // modelwarden.ancestors entries
    // Reuse each process's rendered JSON while its Process::revision is unchanged. Off renders
    // every fragment for every event (the same bytes; for A/B benchmarks and tests).
    bool cache_fragments = true;
};

class EcsEncoder {
public:
    EcsEncoder(HostInfo host, AgentInfo agent, EcsEncoderOptions options = {});

    // Replaces the contents of `out` with the event's JSON, without a trailing newline.
    // Reuse `out` across calls: once its capacity has grown, encoding does not allocate.
    // This is the hot path. Not thread-safe (the fragment cache below): one encoder per thread.
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
    // The JSON of one process state, rendered once: one buffer, pieces by offset.
    struct ProcessFragments {
        const Process* process = nullptr;
        std::uint64_t revision = 0;   // 0 = empty slot
        std::string text;
        std::size_t core_end = 0;     // "pid":..,"entity_id":..,..,"start":.. (ECS process / parent)
        std::size_t own_end = 0;      // "working_directory":..,"exit_code":..,"end":.. (may be empty)
        std::size_t users_end = 0;    // "user":{"id":".."},"group":{"id":".."}
        std::size_t ident_end = 0;    // "pid":..,"entity_id":..,"executable":.. (ancestors, workload root)
        std::size_t args_end = 0;     // [..] (ancestor args)
        std::size_t container_end = 0;// "container":{"id":..} or nothing
        // then up to text.size():       "process":{..} (modelwarden.process)

        std::string_view piece(std::size_t from, std::size_t to) const { return std::string_view(text).substr(from, to - from); }
        std::string_view core() const { return piece(0, core_end); }
        std::string_view own() const { return piece(core_end, own_end); }
        std::string_view users() const { return piece(own_end, users_end); }
        std::string_view ident() const { return piece(users_end, ident_end); }
        std::string_view args() const { return piece(ident_end, args_end); }
        std::string_view container() const { return piece(args_end, container_end); }
        std::string_view modelwarden_process() const { return piece(container_end, text.size()); }
    };

    // The fragments of `p`, from the cache or rendered now. The reference is valid until the
    // next call (a later lookup may reuse the slot): look up again rather than keep it.
    const ProcessFragments& fragments(const Process& p) const;
    void render(const Process& p, ProcessFragments& f) const;

    HostInfo host_;
    AgentInfo agent_;
    EcsEncoderOptions options_;
    std::string host_agent_json_;   // pre-rendered "host":{...},"agent":{...}
    std::string event_id_prefix_;   // agent id + '-'
    mutable json::JsonLine scratch_;
    mutable json::JsonLine fragment_scratch_;
    // Direct-mapped by revision, 512 slots (~1 MB once warm). Slot pointers are compared, never
    // dereferenced: a freed Process cannot match, its revision is never reused.
    mutable std::vector<ProcessFragments> cache_;
};

}  // namespace mw
