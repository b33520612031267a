// The policy check command: diagnostics, or a one-line summary per policy.
#include "policy/check.hpp"

#include <fmt/format.h>

namespace mw::policy {

int run_policy_check(const std::vector<std::string>& paths, std::ostream& out, const ParseOptions& opts,
                     const HostMechanisms* host) {
    if (paths.empty()) {
        out << "policy check: no files given\n";
        return 2;
    }
    auto report = parse_policy_paths(paths, opts);
    if (!report.ok()) {
        for (const auto& d : report.errors) out << d.str() << '\n';
        return report.any_unreadable() ? 2 : 1;
    }
    for (const auto& w : report.policies.workloads) {
        out << fmt::format(
            "{}: policy {} ok: mode {}, selector {} exe/{} cmdline/{} cgroup, exec allow {} ({}), read allow {} ({}), "
            "write allow {} ({}), sensitive {} ({}), egress allow {} ({}), listen allow {} ({})\n",
            w.origin, w.name, to_string(w.mode), w.selector.executables.size(), w.selector.cmdline_contains.size(),
            w.selector.cgroups.size(), w.exec.allow.size(), to_string(w.exec.action), w.read.allow.size(),
            to_string(w.read.action), w.write.allow.size(), to_string(w.write.action), w.sensitive.paths.size(),
            to_string(w.sensitive.action), w.egress.allow.size(), to_string(w.egress.action), w.listen.allow.size(),
            to_string(w.listen.action));
        if (!host) continue;
        for (const auto& m : rule_mechanisms(w, *host)) {
            out << fmt::format("  {}: {}{}: {}{}{}\n", to_string(m.slot), to_string(m.configured),
                               m.effective != m.configured ? fmt::format(" (enforced as {})", to_string(m.effective)) : "",
                               m.mechanism, m.fallback.empty() ? "" : "; ", m.fallback);
        }
    }
    return 0;
}

}  // namespace mw::policy
