// Policy hot reload end to end: the real agent in enforce mode kills a watched Python payload's
// exec; a broken policy (by SIGHUP with a broken file, and through the control API) changes
// nothing, returns the exact error, and the forbidden exec is still killed during and after the
// failed apply; a good policy allows the exec; rollback restores the killing generation. Every
// change is in the audit log and `modelwarden audit verify` proves the chain. Needs root (e2e).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kPayload = std::string(MW_WORKLOADS_DIR) + "/enforce_payload.py";
const std::string kSpecKeys = "mode, risk, audit_all, fallback, selector, process, files, network, models";

// exec_allow: "[]" = every exec is killed; a list = those programs may run.
std::string policy_for(const std::string& tag, const std::string& exec_allow, const std::string& extra_spec = "") {
    return policy_yaml({.name = "e2e-reload",
                        .mode = "enforce",
                        .tag = tag,
                        .exec = "{allow: " + exec_allow + ", action: kill}",
                        .read = R"({allow: ["/**"], action: alert})",
                        .write = R"({allow: ["/**"], action: alert})",
                        .extra = extra_spec});
}

// Runs the payload: one `system-touch` per marker (fork + exec /bin/sh, which execs touch).
// Returns the raw wait status of each shell, in order.
std::vector<int> touch_all(const std::string& tag, const std::vector<std::string>& markers,
                           const std::string& go_file = "") {
    std::vector<std::string> argv{kSystemPython, kPayload};
    if (!go_file.empty()) argv.push_back("wait-file:" + go_file);
    for (const auto& m : markers) argv.push_back("system-touch:" + m);
    argv.push_back("tag:" + tag);
    const auto child = run_child(argv);
    REQUIRE(WIFEXITED(child.status));
    REQUIRE(WEXITSTATUS(child.status) == 0);
    std::vector<int> statuses;
    for (const auto& r : parse_lines(child.stdout_text))
        if (r.at("action") == "system-touch") statuses.push_back(r.at("status").get<int>());
    REQUIRE(statuses.size() == markers.size());
    return statuses;
}

std::vector<std::string> markers(const TempDir& dir, const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(dir.file(prefix + std::to_string(i)));
    return out;
}

std::size_t existing(const std::vector<std::string>& files) {
    std::size_t n = 0;
    for (const auto& f : files) n += std::filesystem::exists(f) ? 1 : 0;
    return n;
}

// Forbidden execs run while `apply` happens: the payload waits for the go file, the test
// creates it and applies at once, so the execs and the failed apply overlap.
std::vector<int> touch_during(const TempDir& dir, const std::string& tag, const std::vector<std::string>& files,
                              const std::function<void()>& apply) {
    const std::string go = dir.file("go-" + std::to_string(std::rand()));
    std::vector<int> statuses;
    std::thread payload([&] { statuses = touch_all(tag, files, go); });
    // Give the payload time to start (python startup) so the execs overlap the apply.
    std::this_thread::sleep_for(150ms);
    write_file(go, "");
    apply();
    payload.join();
    return statuses;
}

// The agent's default name (no agent.name in the test config).
std::string agent_name() {
    std::array<char, 256> buf{};
    REQUIRE(::gethostname(buf.data(), buf.size() - 1) == 0);
    return buf.data();
}

json status_of(const std::string& socket) {
    const auto r = run_agent_cli({"status", "--socket", socket}, true);
    REQUIRE(r.exit_code() == 0);
    return json::parse(r.stdout_text);
}

}  // namespace

TEST_CASE("reload: a broken policy by SIGHUP or the API changes nothing and good apply and rollback take effect",
          "[e2e][reload]") {
    if (::geteuid() != 0) {
        WARN("reload e2e: not root: the agent cannot load its BPF programs; this tier did not run");
        return;
    }
    TempDir dir;
    const std::string tag = unique_tag("mw-reload");
    const std::string policy = dir.file("policy.yaml");
    const std::string socket = dir.file("control.sock");
    const std::string audit = dir.file("audit.jsonl");
    const std::string killing = policy_for(tag, "[]");
    write_file(policy, killing);
    const auto port = free_loopback_port();
    write_file(dir.file("config.yaml"), "control: {socket: " + socket + "}\naudit: {path: " + audit +
                                            ", key: " + dir.file("audit.key") + "}\nmetrics: {listen: '127.0.0.1:" +
                                            std::to_string(port) + "'}\nspool: {dir: " + dir.file("spool") + "}\n");
    // audit + spool together, as packaging/config.yaml ships them: the audit forwarder into the
    // spool once deadlocked the agent at its first audit record, before it was ready.
    AgentProcess agent(dir, policy, {"--config", dir.file("config.yaml")});
    INFO("agent log:\n" << agent.log());

    // Generation 1 kills the exec.
    const auto gen1 = status_of(socket);
    REQUIRE(gen1["policy"]["generation"] == 1);
    const std::string gen1_sha = gen1["policy"]["sha256"];
    const auto before = markers(dir, "before-", 1);
    CHECK(touch_all(tag, before) == std::vector<int>{SIGKILL});
    CHECK(existing(before) == 0);

    // (a) SIGHUP with a broken file: refused, generation 1 stays, execs during and after still killed.
    const std::string broken = policy_for(tag, "[]", "  proccess: {}\n");
    write_file(policy, broken);
    const auto during_hup = markers(dir, "during-hup-", 8);
    const auto hup_statuses = touch_during(dir, tag, during_hup, [&] { REQUIRE(::kill(agent.pid(), SIGHUP) == 0); });
    for (int i = 0; i < 200 && agent.log().find("policy: reload refused") == std::string::npos; ++i)
        std::this_thread::sleep_for(50ms);
    REQUIRE(agent.log().find("policy: reload refused, generation 1 stays in force:\n" + policy +
                             ":14:3: spec: unknown key 'proccess' (expected one of: " + kSpecKeys + ")\n") !=
            std::string::npos);
    CHECK(hup_statuses == std::vector<int>(8, SIGKILL));
    CHECK(existing(during_hup) == 0);
    CHECK(status_of(socket)["policy"]["generation"] == 1);
    const auto after_hup = markers(dir, "after-hup-", 1);
    CHECK(touch_all(tag, after_hup) == std::vector<int>{SIGKILL});
    CHECK(existing(after_hup) == 0);
    write_file(policy, killing);

    // (b) the control API with a broken bundle: the exact error, nothing changed.
    write_file(dir.file("broken.yaml"), broken);
    ChildResult refused;
    const auto during_api = markers(dir, "during-api-", 8);
    const auto api_statuses = touch_during(dir, tag, during_api, [&] {
        refused = run_agent_cli({"policy", "apply", dir.file("broken.yaml"), "--socket", socket}, true);
    });
    CHECK(refused.exit_code() == 1);
    CHECK(refused.stdout_text == "error: 422 api:uid:0:14:3: spec: unknown key 'proccess' (expected one of: " + kSpecKeys +
                                ")\n");
    CHECK(api_statuses == std::vector<int>(8, SIGKILL));
    CHECK(existing(during_api) == 0);
    CHECK(status_of(socket)["policy"]["generation"] == 1);
    const auto after_api = markers(dir, "after-api-", 1);
    CHECK(touch_all(tag, after_api) == std::vector<int>{SIGKILL});
    CHECK(existing(after_api) == 0);

    // A good policy that allows the shell and touch: the exec succeeds.
    write_file(dir.file("allow.yaml"), policy_for(tag, R"(["/usr/bin/**", "/bin/**"])"));
    const auto applied = run_agent_cli({"policy", "apply", dir.file("allow.yaml"), "--socket", socket}, true);
    REQUIRE(applied.exit_code() == 0);
    CHECK(json::parse(applied.stdout_text) == json{{"generation", 2}, {"previous", 1}});
    const auto allowed = markers(dir, "allowed-", 1);
    CHECK(touch_all(tag, allowed) == std::vector<int>{0});
    CHECK(existing(allowed) == 1);

    // Rollback: generation 1's policy is in force again (as generation 3) and the exec is killed.
    const auto rolled = run_agent_cli({"policy", "rollback", "--socket", socket}, true);
    REQUIRE(rolled.exit_code() == 0);
    CHECK(json::parse(rolled.stdout_text) == json{{"generation", 3}, {"previous", 2}});
    const auto now = status_of(socket);
    CHECK(now["policy"]["generation"] == 3);
    CHECK(now["policy"]["sha256"] == gen1_sha);
    CHECK(now["policy"]["origin"] == "api:uid:0 (rollback to generation 1)");
    const auto after_rollback = markers(dir, "after-rollback-", 1);
    CHECK(touch_all(tag, after_rollback) == std::vector<int>{SIGKILL});
    CHECK(existing(after_rollback) == 0);

    agent.stop();
    CHECK(WIFEXITED(agent.exit_status()));

    // The audit log: each change in order, and the chain verifies.
    std::vector<std::pair<std::string, std::string>> changes;
    {
        std::ifstream in(audit);
        for (std::string line; std::getline(in, line);) {
            const auto rec = json::parse(line);
            const std::string action = rec["action"];
            if (action.rfind("policy.", 0) == 0 || action.rfind("agent.", 0) == 0)
                changes.emplace_back(action, rec["object"].get<std::string>());
        }
    }
    CHECK(changes == std::vector<std::pair<std::string, std::string>>{
                         {"agent.start", agent_name()},
                         {"policy.reload.refused", "generation 1"},
                         {"policy.apply.refused", "generation 1"},
                         {"policy.change", "generation 2"},
                         {"policy.change", "generation 3"},
                         {"agent.stop", agent_name()}});
    const auto verify = run_agent_cli({"audit", "verify", "--log", audit, "--key", dir.file("audit.key.pub")}, true);
    CHECK(verify.exit_code() == 0);
    CHECK(verify.stdout_text.rfind("audit verify: OK " + audit + ": ", 0) == 0);
    CHECK(verify.stdout_text.find("not yet signed") == std::string::npos);
}
