// The workload policy model: what a model-serving workload may do, as parsed from YAML
// (parser.hpp) and consumed by the evaluator and the kernel-map compiler.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/glob.hpp"
#include "policy/net.hpp"

namespace mw::policy {

enum class Mode : std::uint8_t { monitor, enforce };
// Values equal enum mw_action in the ABI header.
enum class Action : std::uint8_t { alert = 1, deny = 2, kill = 3, freeze = 4, isolate = 5 };
enum class Level : std::uint8_t { low, medium, high };

std::string_view to_string(Mode m);
std::string_view to_string(Action a);
std::string_view to_string(Level l);
std::optional<Mode> parse_mode(std::string_view s);
std::optional<Action> parse_action(std::string_view s);
std::optional<Level> parse_level(std::string_view s);

// What a `deny` rule becomes where this host cannot deny that kind of action (file opens and
// execs need BPF-LSM or fanotify coverage): `kill` (SIGKILL from the syscall's tracepoint,
// before the process returns to user space) or `none` (the rule only alerts).
enum class Fallback : std::uint8_t { none, kill };
std::string_view to_string(Fallback f);
std::optional<Fallback> parse_fallback(std::string_view s);

struct Risk {
    Level harm = Level::medium;
    Level reversibility = Level::medium;
};

// The rule kinds that carry an action, for defaults and validation.
enum class RuleSlot : std::uint8_t { exec, read, write, sensitive, egress, listen };
std::string_view to_string(RuleSlot s);
// Actions that make sense per slot: listen cannot be frozen or isolated into safety
// (the socket is local), everything else accepts all five.
bool action_allowed(RuleSlot slot, Action a);

// Risk tiers (issue 3 item 4). High harm + low reversibility: enforce, exec kill,
// network (egress, listen) deny, writes and sensitive files deny, reads alert.
// Everything else: monitor, and every action alert. Explicit fields override.
Mode default_mode(const std::optional<Risk>& risk);
Action default_action(const std::optional<Risk>& risk, RuleSlot slot);

// What the selector needs to know about a process.
struct ProcessFacts {
    std::string_view executable;           // absolute path of the exec'd file
    std::span<const std::string> args;     // argv
    std::string_view cgroup;               // cgroup v2 path, "/system.slice/x.service"
};

// Each list is OR'ed (any executable glob, any cmdline substring, any cgroup); the kinds
// present are AND'ed. cmdline_contains matches argv joined by single spaces, so
// "serve.py --port" can span two arguments. cgroup entries match the cgroup path
// itself and everything below it (component-wise: "/a.service" does not match "/a.service2").
// At least one of executable/cgroup is required: the kernel pre-selects on those.
struct Selector {
    std::vector<Glob> executables;
    std::vector<std::string> cmdline_contains;
    std::vector<std::string> cgroups;

    bool matches(const ProcessFacts& p) const;
};

struct PathRules {
    std::vector<Glob> allow;  // after ~ expansion
    Action action = Action::alert;
    Fallback fallback = Fallback::none;  // the rule's own, else spec.fallback
};

struct SensitiveRules {
    std::vector<Glob> paths;  // policy paths + the built-in defaults, after ~ expansion
    Action action = Action::alert;
    Fallback fallback = Fallback::none;
};

struct EgressRules {
    std::vector<NetEndpoint> allow;
    Action action = Action::alert;
};

struct ListenRules {
    std::vector<std::uint16_t> allow;  // sorted, unique
    Action action = Action::alert;
};

struct ModelsSpec {
    std::vector<std::string> dirs;
    std::string manifest;
    std::vector<std::string> trusted_keys;
};

struct WorkloadPolicy {
    std::string name;
    std::string owner;
    std::string origin;  // "file:line" of the document, for messages
    Mode mode = Mode::monitor;
    std::optional<Risk> risk;
    bool audit_all = false;  // send allowed activity to user space too
    Selector selector;
    PathRules exec;
    PathRules read;
    PathRules write;
    SensitiveRules sensitive;
    EgressRules egress;
    ListenRules listen;
    ModelsSpec models;
    // exec/read/write/sensitive lists above precompiled for the evaluator by
    // precompile_paths() (evaluate.hpp); a hand-built policy without them is evaluated list by list.
    GlobSet exec_set, read_set, write_set, sensitive_set;
};

// Workload ids are positions + 1, in load order (files in the order given, a directory's
// *.yaml files sorted by name, documents in file order).
struct PolicySet {
    std::vector<WorkloadPolicy> workloads;

    // First workload whose selector matches (load order decides overlaps), or nullptr.
    const WorkloadPolicy* select(const ProcessFacts& p) const;
    // 1-based id of select(p); 0 = not a workload.
    std::uint32_t select_id(const ProcessFacts& p) const;
};

// Sensitive paths every policy gets, whatever it says. /proc/*/environ of the process
// itself is exempt at evaluation (its own environment is no secret to it); /proc/*/mem is
// not, since writing /proc/self/mem patches one's own code past page protections.
std::span<const std::string_view> default_sensitive_paths();

}  // namespace mw::policy
