// Evaluator decisions: allow lists, sensitive precedence, modes, and catalog ids.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <set>

#include "policy/evaluate.hpp"
#include "policy/parser.hpp"
#include "test_util.hpp"

using namespace mw::policy;
using namespace mw::policy::test;

static WorkloadPolicy load(const std::string& mode) {
    auto r = parse_policy_text(doc("w", "  mode: " + mode + R"(
  selector: {executable: ["/usr/bin/python3*"]}
  process: {exec: {allow: ["/usr/bin/nvidia-smi"], action: kill}}
  files:
    read:  {allow: ["/usr/**", "/proc/self/**", "/root/**"], action: alert}
    write: {allow: ["/tmp/**"], action: deny}
    sensitive: {paths: ["/opt/secrets/*.key"], action: freeze}
  network:
    egress: {allow: ["10.0.0.0/8:443", "[::1]:*", "0.0.0.0/0:53/udp"], action: isolate}
    listen: {allow: [8080], action: kill}
)"),
                               "e.yaml", fixture_options());
    REQUIRE(r.ok());
    return r.policies.workloads.at(0);
}

static std::array<std::uint8_t, 4> v4(const char* s) {
    std::array<std::uint8_t, 4> a{};
    inet_pton(AF_INET, s, a.data());
    return a;
}

TEST_CASE("policy evaluate: exec allow list", "[policy][evaluate]") {
    auto w = load("enforce");
    CHECK(evaluate_exec(w, "/usr/bin/nvidia-smi").allowed);
    auto v = evaluate_exec(w, "/bin/sh");
    CHECK_FALSE(v.allowed);
    CHECK(v.rule_id() == "MW-EXEC-001");
    CHECK(v.rule->severity == Severity::high);
    CHECK(v.rule->mitre_id == "T1059");
    CHECK(v.configured == Action::kill);
    CHECK(v.action == Action::kill);
}

TEST_CASE("policy evaluate: monitor mode alerts whatever the configured action", "[policy][evaluate]") {
    auto w = load("monitor");
    auto v = evaluate_exec(w, "/bin/sh");
    CHECK_FALSE(v.allowed);
    CHECK(v.configured == Action::kill);
    CHECK(v.action == Action::alert);
}

TEST_CASE("policy evaluate: file reads and writes", "[policy][evaluate]") {
    auto w = load("enforce");
    CHECK(evaluate_open(w, "/usr/lib/python3/dist-packages/torch/__init__.py", false).allowed);
    auto r = evaluate_open(w, "/etc/hostname", false);
    CHECK(r.rule_id() == "MW-FILE-001");
    CHECK(r.action == Action::alert);
    CHECK(evaluate_open(w, "/tmp/x", true).allowed);
    auto wr = evaluate_open(w, "/usr/lib/evil.so", true);  // readable is not writable
    CHECK(wr.rule_id() == "MW-FILE-002");
    CHECK(wr.action == Action::deny);
    CHECK(evaluate_unlink(w, "/tmp/a").allowed);
    CHECK(evaluate_unlink(w, "/usr/bin/x").rule_id() == "MW-FILE-006");
    CHECK(evaluate_chmod(w, "/usr/bin/x").rule_id() == "MW-FILE-005");
    CHECK(evaluate_chmod(w, "/tmp/payload").allowed);
    CHECK(evaluate_rename(w, "/tmp/a", "/tmp/b").allowed);
    CHECK(evaluate_rename(w, "/tmp/a", "/usr/bin/python3").rule_id() == "MW-FILE-002");
    CHECK(evaluate_rename(w, "/usr/bin/x", "/tmp/b").rule_id() == "MW-FILE-002");
}

TEST_CASE("policy evaluate: sensitive paths beat allow lists", "[policy][evaluate]") {
    auto w = load("enforce");
    auto ssh = evaluate_open(w, "/root/.ssh/id_rsa", false);  // /root/** is allowed for reads
    CHECK_FALSE(ssh.allowed);
    CHECK(ssh.rule_id() == "MW-FILE-003");
    CHECK(ssh.rule->mitre_id == "T1552.001");
    CHECK(ssh.matched == "/root/.ssh/**");
    CHECK(ssh.action == Action::freeze);
    CHECK(evaluate_open(w, "/home/alice/.aws/credentials", false).matched == "/home/alice/.aws/**");
    CHECK(evaluate_open(w, "/opt/secrets/tls.key", false).matched == "/opt/secrets/*.key");
    CHECK(evaluate_open(w, "/opt/secrets/tls.crt", false).rule_id() == "MW-FILE-001");
    CHECK(evaluate_open(w, "/tmp/../etc/shadow", true).allowed);  // kernel paths are resolved; this string is not /etc/shadow
    CHECK(evaluate_open(w, "/etc/shadow", true).rule_id() == "MW-FILE-003");
    CHECK(evaluate_unlink(w, "/root/.ssh/authorized_keys").rule_id() == "MW-FILE-003");
    CHECK(evaluate_exec(w, "/root/.ssh/x").rule_id() == "MW-FILE-003");
}

TEST_CASE("policy evaluate: /proc memory and environment", "[policy][evaluate]") {
    auto w = load("enforce");
    auto mem = evaluate_open(w, "/proc/self/mem", true, 100);  // /proc/self/** allowed, still a finding
    CHECK(mem.rule_id() == "MW-FILE-004");
    CHECK(mem.rule->mitre_id == "T1003.007");
    CHECK(evaluate_open(w, "/proc/200/mem", false, 100).rule_id() == "MW-FILE-004");
    CHECK(evaluate_open(w, "/proc/200/environ", false, 100).rule_id() == "MW-FILE-004");
    CHECK(evaluate_open(w, "/proc/100/environ", false, 100).allowed);  // own: /proc/self/** covers it
    CHECK(evaluate_open(w, "/proc/self/environ", false, 100).allowed);
    CHECK(evaluate_open(w, "/proc/100/environ", false, 0).rule_id() == "MW-FILE-004");  // unknown pid: not own
    CHECK(evaluate_open(w, "/proc/self/status", false, 100).allowed);
}

TEST_CASE("policy evaluate: egress and listen", "[policy][evaluate]") {
    auto w = load("enforce");
    CHECK(evaluate_connect(w, AF_INET, v4("10.2.3.4"), 443).allowed);
    auto bad = evaluate_connect(w, AF_INET, v4("10.2.3.4"), 80);
    CHECK(bad.rule_id() == "MW-NET-001");
    CHECK(bad.action == Action::isolate);
    CHECK(evaluate_connect(w, AF_INET, v4("8.8.8.8"), 53, Protocol::udp).allowed);
    CHECK_FALSE(evaluate_connect(w, AF_INET, v4("8.8.8.8"), 53, Protocol::tcp).allowed);
    std::array<std::uint8_t, 16> lo{};
    lo[15] = 1;
    CHECK(evaluate_connect(w, AF_INET6, lo, 9).allowed);
    CHECK(evaluate_connect(w, AF_UNIX, {}, 0).allowed);  // local IPC is not egress
    CHECK(evaluate_listen(w, 8080).allowed);
    auto l = evaluate_listen(w, 4444);
    CHECK(l.rule_id() == "MW-NET-002");
    CHECK(l.action == Action::kill);
}

TEST_CASE("policy evaluate: always-findings", "[policy][evaluate]") {
    auto w = load("enforce");
    CHECK(evaluate_fileless_exec(w).rule_id() == "MW-EXEC-002");
    CHECK(evaluate_fileless_exec(w).action == Action::kill);
    CHECK(evaluate_fileless_exec(w).rule->mitre_id == "T1620");
    CHECK(evaluate_memfd_create(w).rule_id() == "MW-EXEC-003");
    CHECK(evaluate_ptrace(w).rule->mitre_id == "T1055.008");
    CHECK(evaluate_process_vm(w, true).rule_id() == "MW-PROC-002");
    CHECK(evaluate_process_vm(w, false).rule_id() == "MW-PROC-003");
    CHECK(evaluate_privilege_change(w).rule->mitre_id == "T1548");
    CHECK(evaluate_module_load(w).rule->mitre_id == "T1547.006");
    CHECK(evaluate_bpf_call(w).rule_id() == "MW-KERN-002");
    CHECK(evaluate_ptrace(w).action == Action::alert);
}

TEST_CASE("policy evaluate: rule catalog ids are unique and complete", "[policy][evaluate]") {
    auto cat = rule_catalog();
    CHECK(cat.size() == static_cast<std::size_t>(RuleKind::seccomp_violation) + 1);
    std::set<std::string_view> ids;
    for (const auto& r : cat) {
        CHECK(ids.insert(r.id).second);
        CHECK(r.mitre_id.starts_with("T"));
        CHECK(&rule_info(r.kind) == &r);
    }
}

TEST_CASE("policy evaluate: selectors", "[policy][evaluate]") {
    auto r = parse_policy_text(doc("a", R"(  selector:
    executable: ["/usr/bin/python3*", "/opt/conda/bin/python"]
    cmdline_contains: ["serve.py", "--model x"]
    cgroup: ["/system.slice/ts.service"]
)") + "---\n" + doc("b", "  selector: {executable: [\"/usr/bin/python3*\"]}\n"),
                               "s.yaml", fixture_options());
    REQUIRE(r.ok());
    const auto& set = r.policies;
    std::vector<std::string> args{"python3", "serve.py", "--model", "x"};
    ProcessFacts p{"/usr/bin/python3.11", args, "/system.slice/ts.service"};
    CHECK(set.select_id(p) == 1);
    CHECK(set.select(p) == &set.workloads[0]);
    p.cgroup = "/system.slice/ts.service/worker";  // below the unit: still it
    CHECK(set.select_id(p) == 1);
    p.cgroup = "/system.slice/ts.service2";  // component-wise, not a string prefix
    CHECK(set.select_id(p) == 2);
    p.cgroup = "/system.slice/ts.service";
    std::vector<std::string> other{"python3", "train.py"};
    p.args = other;
    CHECK(set.select_id(p) == 2);  // cmdline fails for a, b has no cmdline condition
    std::vector<std::string> spanning{"python3", "x", "--model", "x"};
    p.args = spanning;
    CHECK(set.select_id(p) == 1);  // "--model x" spans two arguments
    p.executable = "/usr/bin/perl";
    CHECK(set.select_id(p) == 0);
    CHECK(set.select(p) == nullptr);
}

TEST_CASE("policy evaluate: /proc/self/ allow entries match the kernel's resolved /proc/<pid>/", "[policy][evaluate]") {
    auto w = load("enforce");
    // The kernel resolves /proc/self: the open arrives as the acting process's pid directory.
    CHECK(evaluate_open(w, "/proc/4242/status", false, 4242).allowed);
    CHECK(evaluate_open(w, "/proc/self/status", false, 4242).allowed);
    // Another process's directory is not "self", nor is a pid prefix of it.
    CHECK_FALSE(evaluate_open(w, "/proc/4243/status", false, 4242).allowed);
    CHECK_FALSE(evaluate_open(w, "/proc/42420/status", false, 4242).allowed);
    CHECK_FALSE(evaluate_open(w, "/proc/4242/status", false, 0).allowed);
}
