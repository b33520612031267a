// The agent's own configuration (config.yaml): where policies live, what to output, and
// the daemon's sockets. Sink settings (`sinks:`) are parsed by the sinks component.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.hpp"

namespace mw {

struct AgentConfig {
    std::string source;                          // the config file's path ("" = defaults): errors name it
    std::string agent_name;                      // default: hostname
    std::vector<std::string> policy_paths;       // files or directories of *.yaml
    std::uint32_t ring_buffer_mib = 16;          // kernel -> user ring buffer, sized for bursts
    bool learn_syscalls = false;                 // record each workload's syscall set (seccomp learning)
    bool seccomp_violations = false;             // report syscalls that workloads' seccomp profiles block
    std::string seccomp_dir = "/var/lib/modelwarden/seccomp"; // learned sets, one JSON file per workload
    // sensors.open_cache: the kernel caches allowed-open verdicts of watched tasks. Turn it off
    // on hosts where nfsd or ksmbd rename files inside the kernel: without fentry those renames
    // are not seen, and a cached verdict could outlive the name it was made for.
    bool open_cache = true;
    // enforcement.fanotify_mark_mounts: where BPF-LSM is refused, mark whole mounts for
    // fanotify deny so read/write/exec allow lists are enforced everywhere, not only in the
    // protected paths. Off by default: every open on a marked mount then waits for the agent.
    bool fanotify_mark_mounts = false;
    bool stdout_events = false;                  // JSON Lines on stdout
    std::string events_file;                     // JSON Lines file ("" = none)
    std::string spool_dir;                       // durable local history + SIEM spool ("" = none)
    std::string control_socket;                  // root-only Unix socket ("" = none)
    std::string policy_keys_dir;                 // trusted keys: API-applied bundles must be signed ("" = not required)
    std::string metrics_listen;                  // "127.0.0.1:9477" ("" = none)
    std::string audit_log;                       // hash-chained audit log ("" = none)
    std::string audit_key;                       // checkpoint signing key (created if absent)
    std::uint32_t audit_checkpoint_seconds = 300; // signed checkpoint this often when records were added (0 = off)
    std::string pin_dir = "/sys/fs/bpf/modelwarden"; // pinned maps/programs that outlive the agent
    // What happens to enforcement when the agent stops. Either way a crash (SIGKILL) leaves
    // the pinned programs enforcing the last policy until the next agent adopts them.
    //   open:   a clean stop removes the pins (programs detach);  closed: a clean stop keeps them;
    //   off:    nothing pinned (programs live and die with the agent).
    std::string fail_mode = "open";
    std::uint32_t lost_report_seconds = 10;      // how often kernel drop counters are reported
    std::uint32_t reap_grace_seconds = 30;       // exited processes stay resolvable this long
    YAML::Node sinks;                            // raw `sinks:` section for the sinks component
    YAML::Node control_tls;                      // raw `control.tls:` section for the control API
};

// Parses a config file. Every error names file:line:column; unknown keys are errors.
Result<AgentConfig> load_agent_config(const std::string& path);

// "path:line:column" of a node of this config (just the path when the node has no position),
// for errors found after loading (sinks, control.tls). "" source = "the default config".
std::string config_position(const AgentConfig& config, const YAML::Node& node);

// Defaults for `modelwarden run` without --config.
AgentConfig default_agent_config();

}  // namespace mw
