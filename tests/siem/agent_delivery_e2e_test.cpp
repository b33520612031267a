// The real `modelwarden run` with a `sinks:` config delivering to the local HEC receiver: a
// watched Python workload reads /etc/shadow and exactly that alert (same event id as in the
// agent's events file) arrives at the receiver in HEC's envelope. Needs root (label e2e).
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "agent_harness.hpp"
#include "receivers.hpp"

using namespace mw::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kActions = std::string(MW_WORKLOADS_DIR) + "/actions.py";

std::string policy_for(const std::string& tag) {
    return policy_yaml({.name = "siem-e2e",
                        .tag = tag,
                        .read = R"({allow: ["/usr/**", "/lib/**", "/proc/**", "/sys/**", "/dev/**", "/tmp/**", )"
                                R"("/root/.cache/**"], action: alert})"});
}

}  // namespace

TEST_CASE("the agent delivers a workload's alert to Splunk HEC through the spool", "[e2e][root]") {
    if (::geteuid() != 0) {
        WARN("siem e2e: not root: the agent cannot load its BPF programs; this tier did not run");
        return;
    }
    TempDir dir;
    siemtest::HecReceiver hec;
    write_file(dir.file("hec.token"), hec.token + "\n");
    ::chmod(dir.file("hec.token").c_str(), 0600);
    const std::string tag = unique_tag("mw-siem-e2e");
    write_file(dir.file("policy.yaml"), policy_for(tag));
    write_file(dir.file("config.yaml"), "spool: {dir: " + dir.file("spool") + R"(}
sinks:
  - type: hec
    name: splunk
    url: )" + hec.url() + R"(
    token_file: )" + dir.file("hec.token") + R"(
    host: siem-e2e-host
    index: main
    batch: {idle_poll: 20ms}
    retry: {initial: 20ms, max: 200ms}
)");

    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml")});
    const auto child = run_child({kSystemPython, kActions, "read:/etc/shadow", "--tag=" + tag});
    REQUIRE(WIFEXITED(child.status));
    REQUIRE(WEXITSTATUS(child.status) == 0);

    // Wait (bounded: a hang guard, not a timing assertion) for the alert to reach the receiver.
    auto received_alerts = [&] {
        std::vector<json> out;
        for (const auto& text : hec.events_json()) {
            auto env = json::parse(text);
            const auto& ev = env["event"];
            if (ev.value("/rule/id"_json_pointer, std::string()) == "MW-FILE-003" &&
                ev.value("/process/pid"_json_pointer, 0) == child.pid)
                out.push_back(env);
        }
        return out;
    };
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (received_alerts().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    CHECK(WIFEXITED(agent.exit_status()));
    CHECK(hec.protocol_errors().empty());

    std::vector<json> local;
    for (const auto& e : events_of(events, child.pid, "alert"))
        if (at_path(e, "rule.id") == "MW-FILE-003") local.push_back(e);
    REQUIRE(local.size() == 1);
    const std::string id = at_path(local[0], "event.id").get<std::string>();
    CHECK(at_path(local[0], "file.path") == "/etc/shadow");

    const auto got = received_alerts();
    REQUIRE(got.size() == 1);
    const auto& env = got[0];
    CHECK(env["fields"]["event_id"] == id);
    CHECK(env["fields"]["event_kind"] == "alert");
    CHECK(env["host"] == "siem-e2e-host");
    CHECK(env["index"] == "main");
    CHECK(env["event"] == local[0]);  // the same ECS document, byte for byte after parsing

    // Everything the receiver got is something the agent wrote, each id once (no duplicates
    // without a retry, and this run had no failures to retry).
    std::set<std::string> written;
    for (const auto& e : events) written.insert(at_path(e, "event.id").get<std::string>());
    const auto ids = hec.ids();
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
    for (const auto& rid : ids) CHECK(written.count(rid) == 1);
}

TEST_CASE("a sinks section without a spool is refused at start", "[e2e]") {
    TempDir dir;
    write_file(dir.file("token"), "t\n");
    write_file(dir.file("config.yaml"), "sinks:\n  - {type: hec, url: 'http://127.0.0.1:1', token_file: " +
                                            dir.file("token") + "}\n");
    write_file(dir.file("policy.yaml"), policy_for("unused-tag"));
    const auto r = run_child({MW_AGENT_BINARY, "run", "--config", dir.file("config.yaml"), "--policy",
                              dir.file("policy.yaml"), "--log-level", "error"});
    REQUIRE(WIFEXITED(r.status));
    CHECK(WEXITSTATUS(r.status) == 1);
}
