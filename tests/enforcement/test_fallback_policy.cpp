// `fallback:` in policies (unit): strict parsing with file:line:col errors, the deny -> kill
// rewrite for hosts without BPF-LSM, what the kernel maps get, and the per-rule mechanism report.
#include <catch2/catch.hpp>

#include <sstream>

#include "policy/check.hpp"
#include "policy/compile.hpp"
#include "policy/mechanism.hpp"
#include "policy/parser.hpp"

using namespace mw::policy;

namespace {

std::string doc(const std::string& spec_extra, const std::string& files) {
    return "apiVersion: modelwarden/v1\n"
           "kind: WorkloadPolicy\n"
           "metadata: {name: fb}\n"
           "spec:\n"
           "  mode: enforce\n" +
           spec_extra +
           "  selector: {executable: [/usr/bin/python3]}\n"
           "  files:\n" +
           files;
}

std::vector<std::string> errors_of(const std::string& text) {
    auto r = parse_policy_text(text, "p.yaml");
    std::vector<std::string> out;
    for (const auto& d : r.errors) out.push_back(d.str());
    return out;
}

// Restores the process-wide host mechanisms after a test changes them.
struct HostGuard {
    HostMechanisms saved = host_mechanisms();
    ~HostGuard() { set_host_mechanisms(saved); }
};

}  // namespace

TEST_CASE("fallback: a rule's fallback and the workload default are parsed", "[unit][policy][fallback]") {
    auto r = parse_policy_text(doc("  fallback: kill\n", "    read: {allow: [/usr/**], action: deny}\n"
                                                         "    sensitive: {paths: [/etc/x], action: deny, fallback: none}\n"),
                               "p.yaml");
    REQUIRE(r.ok());
    const auto& w = r.policies.workloads.at(0);
    CHECK(w.read.fallback == Fallback::kill);
    CHECK(w.write.fallback == Fallback::kill);
    CHECK(w.exec.fallback == Fallback::kill);
    CHECK(w.sensitive.fallback == Fallback::none);  // the rule overrides the workload default
}

TEST_CASE("fallback: bad values are errors with file:line:column", "[unit][policy][fallback]") {
    CHECK(errors_of(doc("", "    read: {allow: [], action: deny, fallback: maybe}\n")) ==
          std::vector<std::string>{"p.yaml:8:47: files.read.fallback: 'maybe' is not kill or none"});
    CHECK(errors_of(doc("", "    sensitive: {paths: [/etc/x], action: kill, fallback: kill}\n")) ==
          std::vector<std::string>{
              "p.yaml:8:58: files.sensitive.fallback: kill applies only to action deny (this rule's action is kill)"});
    CHECK(errors_of(doc("  fallback: [kill]\n", "    read: {allow: []}\n")) ==
          std::vector<std::string>{"p.yaml:6:13: spec.fallback must be a string, found a list"});
    CHECK(errors_of(doc("  fallback: always\n", "    read: {allow: []}\n")) ==
          std::vector<std::string>{"p.yaml:6:13: spec.fallback: 'always' is not kill or none"});
    // network deny always has the cgroup hooks: no fallback key there
    const auto net = errors_of("apiVersion: modelwarden/v1\nkind: WorkloadPolicy\nmetadata: {name: fb}\nspec:\n"
                               "  selector: {executable: [/usr/bin/python3]}\n"
                               "  network:\n    egress: {allow: [], action: deny, fallback: kill}\n");
    REQUIRE(net.size() == 1);
    CHECK(net[0] == "p.yaml:7:39: network.egress: unknown key 'fallback' (expected one of: allow, action)");
}

TEST_CASE("fallback: deny becomes kill only without BPF-LSM and only where the rule says kill",
          "[unit][policy][fallback]") {
    auto r = parse_policy_text(doc("", "    read: {allow: [/usr/**], action: deny, fallback: kill}\n"
                                       "    write: {allow: [/tmp/**], action: deny}\n"
                                       "    sensitive: {paths: [/etc/x], action: kill}\n"),
                               "p.yaml");
    REQUIRE(r.ok());
    const auto& w = r.policies.workloads.at(0);
    const HostMechanisms none{false, false}, lsm{true, false}, fan{false, true};
    CHECK(effective_action(w, RuleSlot::read, none) == Action::kill);
    CHECK(effective_action(w, RuleSlot::read, fan) == Action::kill);  // kill backs up what fanotify cannot mark
    CHECK(effective_action(w, RuleSlot::read, lsm) == Action::deny);
    CHECK(effective_action(w, RuleSlot::write, none) == Action::deny);  // no fallback: stays deny (alert only)
    CHECK(effective_action(w, RuleSlot::sensitive, none) == Action::kill);

    HostGuard guard;
    set_host_mechanisms(none);
    auto c = compile_workload_config(w);
    CHECK(c.read_action == MW_ACTION_KILL);
    CHECK(c.write_action == MW_ACTION_DENY);
    set_host_mechanisms(lsm);
    c = compile_workload_config(w);
    CHECK(c.read_action == MW_ACTION_DENY);
}

TEST_CASE("fallback: policy check names the mechanism per rule on the given host", "[unit][policy][fallback]") {
    auto r = parse_policy_text(doc("", "    read: {allow: [/usr/**], action: deny, fallback: kill}\n"
                                       "    write: {allow: [/tmp/**], action: deny}\n"
                                       "    sensitive: {paths: [/etc/x], action: freeze}\n"),
                               "p.yaml");
    REQUIRE(r.ok());
    const auto ms = rule_mechanisms(r.policies.workloads.at(0), HostMechanisms{false, true});
    REQUIRE(ms.size() == 6);
    CHECK(ms[0].slot == RuleSlot::exec);
    CHECK(ms[0].mechanism == "none: alert only");
    CHECK(ms[1].configured == Action::deny);
    CHECK(ms[1].effective == Action::kill);
    CHECK(ms[1].mechanism == "fanotify FAN_OPEN_PERM on the protected paths it can mark");
    CHECK(ms[1].fallback == "fallback kill: tracepoint kill (sys_exit_openat, before the fd is used)");
    CHECK(ms[2].effective == Action::deny);
    CHECK(ms[2].fallback == "no fallback: alert only where deny does not reach (set fallback: kill to kill)");
    CHECK(ms[3].mechanism == "the agent freezes the workload's cgroup (cgroup.freeze) when the record arrives");
    CHECK(ms[4].mechanism == "none: alert only");

    const auto lsm = rule_mechanisms(r.policies.workloads.at(0), HostMechanisms{true, true});
    CHECK(lsm[1].effective == Action::deny);
    CHECK(lsm[1].mechanism == "BPF-LSM file_open");
    CHECK(lsm[1].fallback.empty());
}
