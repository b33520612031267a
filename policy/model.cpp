// Enum names, risk-tier defaults and selector matching for the policy model.
#include "policy/model.hpp"

#include <array>

namespace mw::policy {

std::string_view to_string(Mode m) { return m == Mode::enforce ? "enforce" : "monitor"; }

std::string_view to_string(Action a) {
    switch (a) {
    case Action::alert: return "alert";
    case Action::deny: return "deny";
    case Action::kill: return "kill";
    case Action::freeze: return "freeze";
    case Action::isolate: return "isolate";
    }
    return "unknown";
}

std::string_view to_string(Level l) {
    switch (l) {
    case Level::low: return "low";
    case Level::medium: return "medium";
    case Level::high: return "high";
    }
    return "unknown";
}

std::string_view to_string(RuleSlot s) {
    switch (s) {
    case RuleSlot::exec: return "process.exec";
    case RuleSlot::read: return "files.read";
    case RuleSlot::write: return "files.write";
    case RuleSlot::sensitive: return "files.sensitive";
    case RuleSlot::egress: return "network.egress";
    case RuleSlot::listen: return "network.listen";
    }
    return "unknown";
}

std::string_view to_string(Fallback f) { return f == Fallback::kill ? "kill" : "none"; }

std::optional<Fallback> parse_fallback(std::string_view s) {
    if (s == "kill") return Fallback::kill;
    if (s == "none") return Fallback::none;
    return std::nullopt;
}

std::optional<Mode> parse_mode(std::string_view s) {
    if (s == "monitor") return Mode::monitor;
    if (s == "enforce") return Mode::enforce;
    return std::nullopt;
}

std::optional<Action> parse_action(std::string_view s) {
    for (Action a : {Action::alert, Action::deny, Action::kill, Action::freeze, Action::isolate})
        if (s == to_string(a)) return a;
    return std::nullopt;
}

std::optional<Level> parse_level(std::string_view s) {
    for (Level l : {Level::low, Level::medium, Level::high})
        if (s == to_string(l)) return l;
    return std::nullopt;
}

bool action_allowed(RuleSlot slot, Action a) {
    if (slot == RuleSlot::listen) return a == Action::alert || a == Action::deny || a == Action::kill;
    return true;
}

static bool high_risk(const std::optional<Risk>& r) {
    return r && r->harm == Level::high && r->reversibility == Level::low;
}

Mode default_mode(const std::optional<Risk>& risk) { return high_risk(risk) ? Mode::enforce : Mode::monitor; }

Action default_action(const std::optional<Risk>& risk, RuleSlot slot) {
    if (!high_risk(risk)) return Action::alert;
    switch (slot) {
    case RuleSlot::exec: return Action::kill;
    case RuleSlot::egress:
    case RuleSlot::listen:
    case RuleSlot::write:
    case RuleSlot::sensitive: return Action::deny;
    case RuleSlot::read: return Action::alert;
    }
    return Action::alert;
}

bool Selector::matches(const ProcessFacts& p) const {
    if (!executables.empty()) {
        bool any = false;
        for (const auto& g : executables)
            if (g.match(p.executable)) {
                any = true;
                break;
            }
        if (!any) return false;
    }
    if (!cmdline_contains.empty()) {
        std::size_t total = p.args.size();
        for (const auto& a : p.args) total += a.size();
        std::string joined;
        joined.reserve(total);
        for (const auto& a : p.args) {
            if (&a != p.args.data()) joined += ' ';  // one space between arguments
            joined += a;
        }
        bool any = false;
        for (const auto& s : cmdline_contains)
            if (joined.find(s) != std::string::npos) {
                any = true;
                break;
            }
        if (!any) return false;
    }
    if (!cgroups.empty()) {
        bool any = false;
        for (const auto& c : cgroups) {
            if (c == "/" || (p.cgroup.starts_with(c) && (p.cgroup.size() == c.size() || p.cgroup[c.size()] == '/'))) {
                any = true;
                break;
            }
        }
        if (!any) return false;
    }
    return !executables.empty() || !cgroups.empty();
}

const WorkloadPolicy* PolicySet::select(const ProcessFacts& p) const {
    for (const auto& w : workloads)
        if (w.selector.matches(p)) return &w;
    return nullptr;
}

std::uint32_t PolicySet::select_id(const ProcessFacts& p) const {
    for (std::size_t i = 0; i < workloads.size(); ++i)
        if (workloads[i].selector.matches(p)) return static_cast<std::uint32_t>(i + 1);
    return 0;
}

std::span<const std::string_view> default_sensitive_paths() {
    static constexpr std::array<std::string_view, 15> kDefaults{
        "/etc/shadow",
        "/etc/gshadow",
        "~/.ssh/**",
        "~/.aws/**",
        "~/.config/gcloud/**",
        "~/.azure/**",
        "/root/.kube/**",
        "~/.kube/**",
        "~/.docker/config.json",
        "~/.netrc",
        "~/.git-credentials",
        "/var/run/secrets/kubernetes.io/**",
        "/run/secrets/kubernetes.io/**",  // /var/run is a symlink; the kernel reports this form
        "/proc/*/mem",
        "/proc/*/environ",
    };
    return kDefaults;
}

}  // namespace mw::policy
