// fanotify file deny end to end, on a kernel that refuses BPF-LSM: the real agent in enforce
// mode makes a watched Python process's open of a protected file fail with EPERM (contents
// never returned, the process goes on), with exactly one alert saying denied; monitor mode and
// unwatched processes read the file. Needs root.
#include <catch2/catch.hpp>

#include <errno.h>
#include <sys/wait.h>

#include <filesystem>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;

namespace {

const std::string kPayload = std::string(MW_WORKLOADS_DIR) + "/file_deny_payload.py";

std::string policy_for(const std::string& tag, const std::string& mode, const std::string& secret) {
    return policy_yaml({.name = "e2e-file-deny",
                        .mode = mode,
                        .tag = tag,
                        .exec = R"({allow: ["/**"], action: alert})",
                        .read = R"({allow: ["/**"], action: alert})",
                        .write = R"({allow: ["/dev/**", "/proc/**"], action: deny})",
                        .sensitive = R"({paths: [")" + secret + R"("], action: deny})",
                        .egress = R"({allow: ["10.0.0.0/8:443"], action: alert})",
                        .listen = "{allow: [8080], action: alert}"});
}

// This fallback only runs where BPF-LSM is refused; with BPF-LSM the kernel denies instead.
bool lsm_in_use(const AgentProcess& agent) {
    return agent.log().find("bpf-lsm: available for in-kernel deny") != std::string::npos;
}

}  // namespace

TEST_CASE("file deny: enforce: a sensitive read fails with EPERM, the process goes on, one alert says denied",
          "[e2e][file-deny]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-fdeny-read");
    const std::string secret = dir.file("secret");
    write_file(secret, "TOPSECRET");
    write_file(dir.file("ok.txt"), "still-serving");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", secret));
    AgentProcess agent(dir, dir.file("policy.yaml"));
    if (lsm_in_use(agent)) {
        WARN("BPF-LSM is in use on this host: the fanotify fallback is not armed; test not run");
        return;
    }
    const auto child = run_child({kSystemPython, kPayload, "read:" + secret, "read:" + dir.file("ok.txt"), "tag:" + tag});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("alerts:\n" << alerts_text(events));

    // the coverage line names the path and how it is marked
    CHECK(agent.log().find("file deny: fanotify: workload e2e-file-deny: sensitive " + secret +
                           ": file and its directory " + dir.path() + "/ marked") != std::string::npos);

    // the effect: EPERM, no bytes, and the process went on to its next step and finished
    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    REQUIRE(reports.size() == 3);
    CHECK(reports[0].at("action") == "read");
    CHECK(reports[0].at("ok") == false);
    CHECK(reports[0].at("errno") == EPERM);
    CHECK(reports[0].at("data") == "");
    CHECK(child.stdout_text.find("TOPSECRET") == std::string::npos);
    CHECK(reports[1].at("data") == "still-serving");
    CHECK(reports[2].at("action") == "done");

    // exactly one alert, from the agent's fanotify decision
    const auto alerts = alerts_with_rule(events, "MW-FILE-003");
    REQUIRE(alerts.size() == 1);
    const auto& a = alerts[0];
    CHECK(at_path(a, "process.pid") == child.pid);
    CHECK(at_path(a, "file.path") == secret);
    CHECK(at_path(a, "event.action") == "open");
    CHECK(at_path(a, "event.type") == json::array({"denied"}));
    CHECK(at_path(a, "event.outcome") == "failure");
    CHECK(at_path(a, "modelwarden.enforcement.action") == "deny");
    CHECK(at_path(a, "modelwarden.enforcement.applied") == true);
    CHECK(at_path(a, "modelwarden.enforcement.succeeded") == true);
    CHECK(at_path(a, "modelwarden.enforcement.detail") == "denied by the agent (fanotify FAN_OPEN_PERM)");
    CHECK(count_alerts(events) == 1);

    // the kernel's record of the failed open is there, as telemetry, not a second alert
    std::size_t failed_open_events = 0;
    for (const auto& e : events_of(events, child.pid, "event"))
        if (at_path(e, "event.action") == "open" && at_path(e, "file.path") == secret &&
            at_path(e, "event.outcome") == "failure")
            ++failed_open_events;
    CHECK(failed_open_events == 1);
}

TEST_CASE("file deny: enforce: a write-open outside the write allow list fails and the file keeps its bytes",
          "[e2e][file-deny]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-fdeny-write");
    const std::string secret = dir.file("secret");
    const std::string target = dir.file("out.txt");
    write_file(secret, "TOPSECRET");
    write_file(target, "ORIGINAL");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", secret));
    AgentProcess agent(dir, dir.file("policy.yaml"));
    if (lsm_in_use(agent)) {
        WARN("BPF-LSM is in use on this host: the fanotify fallback is not armed; test not run");
        return;
    }
    const auto child = run_child({kSystemPython, kPayload, "write:" + target, "read:" + target, "tag:" + tag});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("alerts:\n" << alerts_text(events));

    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    REQUIRE(reports.size() == 3);
    CHECK(reports[0].at("action") == "write");
    CHECK(reports[0].at("ok") == false);
    CHECK(reports[0].at("errno") == EPERM);
    // a read of the same file is allowed (read allow list /**): the write never landed
    CHECK(reports[1].at("ok") == true);
    CHECK(reports[1].at("data") == "ORIGINAL");
    CHECK(read_text(target) == "ORIGINAL");

    const auto alerts = alerts_with_rule(events, "MW-FILE-002");
    REQUIRE(alerts.size() == 1);
    CHECK(at_path(alerts[0], "file.path") == target);
    CHECK(at_path(alerts[0], "process.pid") == child.pid);
    CHECK(at_path(alerts[0], "event.type") == json::array({"denied"}));
    CHECK(at_path(alerts[0], "modelwarden.enforcement.action") == "deny");
    CHECK(at_path(alerts[0], "modelwarden.enforcement.succeeded") == true);
    CHECK(count_alerts(events) == 1);
}

TEST_CASE("file deny: monitor: the same read succeeds and one alert reports it", "[e2e][file-deny]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-fdeny-mon");
    const std::string secret = dir.file("secret");
    write_file(secret, "TOPSECRET");
    write_file(dir.file("policy.yaml"), policy_for(tag, "monitor", secret));
    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kSystemPython, kPayload, "read:" + secret, "tag:" + tag});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("alerts:\n" << alerts_text(events));

    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    const auto read = report_of(reports, "read");
    REQUIRE(read.is_object());
    CHECK(read.at("ok") == true);
    CHECK(read.at("data") == "TOPSECRET");
    // monitor mode: nothing is marked at all
    CHECK(agent.log().find("file deny: no enforce-mode rule asks for deny: nothing marked") != std::string::npos);

    const auto alerts = alerts_with_rule(events, "MW-FILE-003");
    REQUIRE(alerts.size() == 1);
    CHECK(at_path(alerts[0], "process.pid") == child.pid);
    CHECK(at_path(alerts[0], "file.path") == secret);
    CHECK(at_path(alerts[0], "event.outcome") == "success");
    CHECK(at_path(alerts[0], "modelwarden.enforcement.action") == "alert");
    CHECK(count_alerts(events) == 1);
}

TEST_CASE("file deny: enforce: an unwatched process reads the protected file", "[e2e][file-deny]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-fdeny-unw");
    const std::string secret = dir.file("secret");
    write_file(secret, "TOPSECRET");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", secret));
    AgentProcess agent(dir, dir.file("policy.yaml"));
    // no tag on its command line: the selector does not pick it
    const auto child = run_child({kSystemPython, kPayload, "read:" + secret});
    const auto reports = parse_lines(child.stdout_text);
    const std::string here = read_text(secret);  // this test process is not watched either
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    const auto read = report_of(reports, "read");
    REQUIRE(read.is_object());
    CHECK(read.at("ok") == true);
    CHECK(read.at("data") == "TOPSECRET");
    CHECK(here == "TOPSECRET");
    CHECK(count_alerts(events) == 0);
}
