// exec deny end to end: the real agent in enforce mode makes a watched Python process's
// child execve of a program outside the exec allow list fail (fanotify FAN_OPEN_EXEC_PERM on
// a kernel without BPF-LSM): the program never runs, the server goes on, one alert says
// denied. `policy check` decides what the effect must be on this host. Needs root.
#include <catch2/catch.hpp>

#include <errno.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;

namespace {

const std::string kPayload = std::string(MW_WORKLOADS_DIR) + "/exec_deny_payload.py";
// A program directly in /usr/bin: one of the exec directories the fallback marks.
const std::string kForbidden = "/usr/bin/touch";

std::string policy_for(const std::string& tag) {
    return policy_yaml({.name = "e2e-exec-deny",
                        .mode = "enforce",
                        .tag = tag,
                        .exec = R"({allow: ["/usr/bin/python3*"], action: deny})",
                        .read = R"({allow: ["/**"], action: alert})",
                        .write = R"({allow: ["/**"], action: alert})",
                        .egress = R"({allow: ["10.0.0.0/8:443"], action: alert})",
                        .listen = "{allow: [8080], action: alert}"});
}

// The `  process.exec: ...` line `policy check` prints for the workload on this host.
std::string exec_mechanism_line(const std::string& policy_path) {
    std::istringstream in(run_agent_cli({"policy", "check", policy_path}, true).stdout_text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("  process.exec: ", 0) == 0) return line;
    return {};
}

}  // namespace

TEST_CASE("exec deny: enforce: a child execve outside the allow list fails with EPERM, the program never runs, "
          "one alert says denied",
          "[e2e][exec-deny]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-xdeny");
    const std::string marker = dir.file("MARKER");
    const std::string allowed_marker = dir.file("ALLOWED");
    write_file(dir.file("policy.yaml"), policy_for(tag));

    const std::string mechanism = exec_mechanism_line(dir.file("policy.yaml"));
    INFO("policy check: " << mechanism);
    REQUIRE(!mechanism.empty());
    // deny is carried out as deny on this host (BPF-LSM or fanotify), never silently as kill
    const bool by_fanotify = mechanism == "  process.exec: deny: fanotify FAN_OPEN_EXEC_PERM on the protected paths it can "
                                          "mark; no fallback: alert only where deny does not reach (set fallback: "
                                          "kill to kill)";
    const bool by_lsm = mechanism == "  process.exec: deny: BPF-LSM bprm_check_security";
    REQUIRE((by_fanotify || by_lsm));

    AgentProcess agent(dir, dir.file("policy.yaml"));
    if (by_fanotify)
        CHECK(agent.log().find("file deny: fanotify: workload e2e-exec-deny: exec allow list: denied for programs "
                               "directly in ") != std::string::npos);
    const auto child = run_child({kSystemPython, kPayload, "spawn:" + kForbidden + ":" + marker,
                                  "spawn:/usr/bin/python3:-cpass", "tag:" + tag});
    // the allowed program: python3 itself, told to write its own marker
    const auto allowed = run_child({kSystemPython, "-c", "open('" + allowed_marker + "', 'w').close()"});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("alerts:\n" << alerts_text(events));
    INFO("payload:\n" << child.stdout_text);

    // the effect: execve refused with EPERM in the child, the program never ran, the server went on
    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    REQUIRE(reports.size() == 3);
    CHECK(reports[0].at("action") == "spawn");
    CHECK(reports[0].at("prog") == kForbidden);
    CHECK(reports[0].at("ok") == false);
    CHECK(reports[0].at("errno") == EPERM);
    CHECK_FALSE(std::filesystem::exists(marker));
    // an allowed exec by the same watched process still runs (python3 -cpass exits 0)
    CHECK(reports[1].at("ok") == true);
    CHECK(reports[1].at("returncode") == 0);
    CHECK(reports[2].at("action") == "done");
    // unwatched processes exec as before
    REQUIRE(WIFEXITED(allowed.status));
    CHECK(WEXITSTATUS(allowed.status) == 0);
    CHECK(std::filesystem::exists(allowed_marker));

    // exactly one alert, saying denied
    const auto alerts = alerts_with_rule(events, "MW-EXEC-001");
    REQUIRE(alerts.size() == 1);
    const auto& a = alerts[0];
    CHECK(at_path(a, "process.parent.pid") == child.pid);
    CHECK(at_path(a, "file.path") == kForbidden);
    CHECK(at_path(a, "event.action") == "exec");
    CHECK(at_path(a, "event.type") == json::array({"denied"}));
    CHECK(at_path(a, "event.outcome") == "failure");
    CHECK(at_path(a, "modelwarden.enforcement.action") == "deny");
    CHECK(at_path(a, "modelwarden.enforcement.applied") == true);
    CHECK(at_path(a, "modelwarden.enforcement.succeeded") == true);
    if (by_fanotify)
        CHECK(at_path(a, "modelwarden.enforcement.detail") == "denied by the agent (fanotify FAN_OPEN_EXEC_PERM)");
    CHECK(count_alerts(events) == 1);
}

namespace {

// The exec directories the fallback marks on this host, as its coverage line names them.
std::string marked_exec_dirs() {
    std::vector<std::string> seen;
    std::string out;
    for (const char* d : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/tmp",
                          "/var/tmp", "/dev/shm"}) {
        std::error_code ec;
        const auto real = std::filesystem::canonical(d, ec);
        if (ec || !std::filesystem::is_directory(real, ec)) continue;
        if (std::find(seen.begin(), seen.end(), real.string()) != seen.end()) continue;
        seen.push_back(real.string());
        out += (out.empty() ? "" : ", ") + real.string();
    }
    return out;
}

}  // namespace

TEST_CASE("exec deny: `modelwarden status` lists the file-deny coverage", "[e2e][exec-deny][status]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-xdeny-st");
    const std::string socket = dir.file("control.sock");
    write_file(dir.file("policy.yaml"), policy_for(tag));
    write_file(dir.file("agent.yaml"), "agent: {fail_mode: \"off\"}\n"
                                       "enforcement: {fanotify_mark_mounts: false}\n"
                                       "control: {socket: " + socket + "}\n");
    const std::string mechanism = exec_mechanism_line(dir.file("policy.yaml"));
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("agent.yaml")});
    const std::string status_text = run_agent_cli({"status", "--socket", socket}, true).stdout_text;
    agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("status:\n" << status_text);
    const auto status = json::parse(status_text, nullptr, false);
    REQUIRE(status.is_object());
    if (mechanism.find("FAN_OPEN_EXEC_PERM") == std::string::npos) {
        // BPF-LSM denies in the kernel here: the fanotify fallback is not armed, nothing to list
        CHECK_FALSE(status.contains("file_deny"));
        return;
    }
    REQUIRE(status.contains("file_deny"));
    CHECK(status.at("file_deny") ==
          json::array({"file deny: fanotify: workload e2e-exec-deny: exec allow list: denied for programs directly in " +
                       marked_exec_dirs() + "; elsewhere alert-only (no BPF-LSM, mount marks off)"}));
}
