// Enforcement end to end: a watched Python server in enforce mode is stopped in the kernel
// (exec killed before the new image runs, connect refused with EPERM, a secret never read),
// each violation is exactly one alert saying what was done; monitor mode and unwatched
// processes are untouched; pinned programs keep enforcing after the agent is SIGKILLed.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kPython = "/usr/bin/python3";
const std::string kPayload = std::string(MW_WORKLOADS_DIR) + "/enforce_payload.py";

std::string policy_for(const std::string& tag, const std::string& mode, const std::string& secret) {
    return R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: e2e-enforce, owner: tests}
spec:
  mode: )" + mode + R"(
  selector:
    executable: ["/usr/bin/python3*"]
    cmdline_contains: [")" + tag + R"("]
  process:
    exec: {allow: [], action: kill}
  files:
    read: {allow: ["/**"], action: alert}
    write: {allow: ["/**"], action: alert}
    sensitive: {paths: [")" + secret + R"("], action: kill}
  network:
    egress: {allow: ["10.0.0.0/8:443"], action: deny}
    listen: {allow: [8080], action: alert}
)";
}

// Counts alerts and, for a failure message, names each one (rule, pid, path).
std::size_t alert_count(const std::vector<json>& all) {
    std::size_t n = 0;
    for (const auto& e : all)
        if (at_path(e, "event.kind") == "alert") {
            ++n;
            UNSCOPED_INFO("alert: " << e.value("rule", json::object()).value("id", std::string("?")) << " pid "
                                    << e.value("process", json::object()).value("pid", 0) << " "
                                    << e.value("file", json::object()).value("path", std::string()));
        }
    return n;
}

json report_of(const std::vector<json>& reports, const std::string& action) {
    for (const auto& r : reports)
        if (r.at("action") == action) return r;
    return json();
}

// A payload started in the background with stdout to a file (for the fail-safe test).
struct Background {
    pid_t pid = -1;
    std::string out_path;
    Background(const std::vector<std::string>& argv, std::string out) : out_path(std::move(out)) {
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(fd, 1);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    int wait() {
        int status = 0;
        ::waitpid(pid, &status, 0);
        return status;
    }
    std::string output() const {
        std::ifstream in(out_path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
};

// The workload id the kernel holds for pid in a pinned watched_tasks map (0 = not watched).
std::uint32_t pinned_workload_of(const std::string& pin_dir, pid_t pid) {
    int fd = bpf_obj_get((pin_dir + "/maps/watched_tasks").c_str());
    if (fd < 0) return 0;
    std::uint32_t key = static_cast<std::uint32_t>(pid);
    std::uint32_t value[2] = {0, 0};
    const int err = bpf_map_lookup_elem(fd, &key, value);
    ::close(fd);
    return err ? 0 : value[0];
}

std::uint32_t pinned_map_id(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return 0;
    bpf_map_info info{};
    __u32 len = sizeof info;
    const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
    ::close(fd);
    return err ? 0 : info.id;
}

}  // namespace

TEST_CASE("enforce: a forbidden exec is killed before the new image runs and one alert says killed", "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-enf-kill");
    const std::string marker = dir.file("MARKER");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", dir.file("secret")));
    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kPython, kPayload, "system-touch:" + marker, "tag:" + tag});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    // the effect: the shell died of SIGKILL, touch never ran, the server itself lives on
    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    const auto touch = report_of(reports, "system-touch");
    REQUIRE(touch.is_object());
    CHECK(touch.at("status") == SIGKILL);  // os.system: the raw wait status of the shell
    CHECK(touch.at("exists") == false);
    CHECK_FALSE(std::filesystem::exists(marker));
    CHECK(report_of(reports, "done").is_object());

    // one alert, from the kernel's enforcement record
    const auto alerts = alerts_with_rule(events, "MW-EXEC-001");
    REQUIRE(alerts.size() == 1);
    const auto& a = alerts[0];
    CHECK(at_path(a, "modelwarden.enforcement.action") == "kill");
    CHECK(at_path(a, "modelwarden.enforcement.applied") == true);
    CHECK(at_path(a, "modelwarden.enforcement.succeeded") == true);
    CHECK(at_path(a, "modelwarden.enforcement.detail").get<std::string>().rfind("killed", 0) == 0);
    CHECK(at_path(a, "file.path") == std::filesystem::canonical("/bin/sh").string());
    CHECK(at_path(a, "process.parent.pid") == child.pid);
    CHECK(alert_count(events) == 1);
}

TEST_CASE("enforce: a connect outside the egress allow list fails with EPERM and the server keeps serving",
          "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-enf-net");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", dir.file("secret")));
    write_file(dir.file("ok.txt"), "still-serving");
    LoopbackListener listener;
    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kPython, kPayload, "connect:" + std::to_string(listener.port),
                                  "read:" + dir.file("ok.txt"), "tag:" + tag});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    REQUIRE(WIFEXITED(child.status));
    CHECK(WEXITSTATUS(child.status) == 0);
    const auto connect = report_of(reports, "connect");
    REQUIRE(connect.is_object());
    CHECK(connect.at("ok") == false);
    CHECK(connect.at("errno") == EPERM);
    CHECK_FALSE(listener.saw_connection());
    CHECK(report_of(reports, "read").at("data") == "still-serving");

    const auto alerts = alerts_with_rule(events, "MW-NET-001");
    REQUIRE(alerts.size() == 1);
    const auto& a = alerts[0];
    CHECK(at_path(a, "process.pid") == child.pid);
    CHECK(at_path(a, "destination.port") == listener.port);
    CHECK(at_path(a, "destination.ip") == "127.0.0.1");
    CHECK(at_path(a, "event.outcome") == "failure");
    CHECK(at_path(a, "modelwarden.enforcement.action") == "deny");
    CHECK(at_path(a, "modelwarden.enforcement.applied") == true);
    CHECK(at_path(a, "modelwarden.enforcement.succeeded") == true);
    CHECK(alert_count(events) == 1);
}

TEST_CASE("enforce: a sensitive file under a kill rule is never read", "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-enf-file");
    const std::string secret = dir.file("secret");
    write_file(secret, "TOPSECRET");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", secret));
    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kPython, kPayload, "read:" + secret, "tag:" + tag});
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    REQUIRE(WIFSIGNALED(child.status));
    CHECK(WTERMSIG(child.status) == SIGKILL);
    CHECK(child.stdout_text.find("TOPSECRET") == std::string::npos);
    CHECK_FALSE(report_of(parse_lines(child.stdout_text), "read").is_object());

    const auto alerts = alerts_with_rule(events, "MW-FILE-003");
    REQUIRE(alerts.size() == 1);
    CHECK(at_path(alerts[0], "file.path") == secret);
    CHECK(at_path(alerts[0], "modelwarden.enforcement.action") == "kill");
    CHECK(at_path(alerts[0], "modelwarden.enforcement.succeeded") == true);
}

TEST_CASE("monitor: the same actions succeed and alert without enforcement", "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-mon");
    const std::string marker = dir.file("MARKER");
    write_file(dir.file("policy.yaml"), policy_for(tag, "monitor", dir.file("secret")));
    LoopbackListener listener;
    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kPython, kPayload, "system-touch:" + marker,
                                  "connect:" + std::to_string(listener.port), "tag:" + tag});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    CHECK(report_of(reports, "system-touch").at("status") == 0);
    CHECK(std::filesystem::exists(marker));
    CHECK(report_of(reports, "connect").at("ok") == true);
    CHECK(listener.saw_connection());
    const auto exec_alerts = alerts_with_rule(events, "MW-EXEC-001");
    const auto net_alerts = alerts_with_rule(events, "MW-NET-001");
    // monitor lets the shell run, so it execs touch too: two execs, two alerts, nothing done
    REQUIRE(exec_alerts.size() == 2);
    REQUIRE(net_alerts.size() == 1);
    CHECK(at_path(exec_alerts[0], "process.executable") == std::filesystem::canonical("/bin/sh").string());
    CHECK(at_path(exec_alerts[1], "process.executable") == std::filesystem::canonical("/usr/bin/touch").string());
    CHECK(at_path(exec_alerts[0], "modelwarden.enforcement.applied") == false);
    CHECK(at_path(exec_alerts[1], "modelwarden.enforcement.applied") == false);
    CHECK(at_path(net_alerts[0], "modelwarden.enforcement.applied") == false);
}

TEST_CASE("enforce: unwatched processes doing the same are never touched", "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-enf-unw");
    const std::string marker = dir.file("MARKER");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", dir.file("secret")));
    LoopbackListener listener;
    AgentProcess agent(dir, dir.file("policy.yaml"));
    // same interpreter and script, but the command line lacks the selector's tag
    const auto child = run_child({kPython, kPayload, "system-touch:" + marker,
                                  "connect:" + std::to_string(listener.port), "tag:other"});
    const auto reports = parse_lines(child.stdout_text);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    CHECK(report_of(reports, "system-touch").at("status") == 0);
    CHECK(std::filesystem::exists(marker));
    CHECK(report_of(reports, "connect").at("ok") == true);
    CHECK(listener.saw_connection());
    CHECK(events_of(events, child.pid, "alert").empty());
}

TEST_CASE("fail-safe: after the agent is SIGKILLed the pinned programs still kill and a new agent adopts them",
          "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-enf-pin");
    const std::string pin_dir = "/sys/fs/bpf/" + tag;
    const std::string marker1 = dir.file("MARKER1"), marker2 = dir.file("MARKER2");
    write_file(dir.file("policy.yaml"), policy_for(tag, "enforce", dir.file("secret")));
    write_file(dir.file("config.yaml"), "agent: {pin_dir: " + pin_dir + ", fail_mode: open}\n");

    auto first = std::make_unique<AgentProcess>(dir, dir.file("policy.yaml"),
                                                std::vector<std::string>{"--config", dir.file("config.yaml")});
    Background payload({kPython, kPayload, "wait-file:" + dir.file("go1"), "system-touch:" + marker1,
                        "wait-file:" + dir.file("go2"), "system-touch:" + marker2, "tag:" + tag},
                       dir.file("payload.out"));
    // the agent confirms the selection in the kernel map (no longer provisional)
    for (int i = 0; i < 500 && pinned_workload_of(pin_dir, payload.pid) != 1; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(pinned_workload_of(pin_dir, payload.pid) == 1);
    const std::uint32_t map_id = pinned_map_id(pin_dir + "/maps/watched_tasks");
    REQUIRE(map_id != 0);

    ::kill(first->pid(), SIGKILL);
    (void)first->stop();
    first.reset();
    write_file(dir.file("go1"), "");  // forbidden exec with no agent running
    for (int i = 0; i < 500 && !std::filesystem::exists(dir.file("go2")) &&
                    report_of(parse_lines(payload.output()), "system-touch").is_null();
         ++i)
        std::this_thread::sleep_for(10ms);
    auto reports = parse_lines(payload.output());
    REQUIRE(report_of(reports, "system-touch").is_object());
    CHECK(report_of(reports, "system-touch").at("status") == SIGKILL);
    CHECK_FALSE(std::filesystem::exists(marker1));

    // a restarted agent adopts the pinned maps (same map id) and keeps enforcing
    TempDir second_dir;  // its own ready file and event log
    AgentProcess second(second_dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml")});
    CHECK(pinned_map_id(pin_dir + "/maps/watched_tasks") == map_id);
    write_file(dir.file("go2"), "");
    const int status = payload.wait();
    CHECK(WIFEXITED(status));
    reports = parse_lines(payload.output());
    int killed = 0;
    for (const auto& r : reports)
        if (r.at("action") == "system-touch" && r.at("status") == SIGKILL) ++killed;
    CHECK(killed == 2);
    CHECK_FALSE(std::filesystem::exists(marker2));
    const auto events = second.stop();
    INFO("second agent log:\n" << second.log());
    CHECK(second.log().find("adopted") != std::string::npos);
    // two kills, two alerts: the one made while no agent ran waited in the pinned ring
    // buffer and reached the adopting agent
    const auto alerts = alerts_with_rule(events, "MW-EXEC-001");
    for (const auto& a : alerts) UNSCOPED_INFO("alert: " << a.dump());
    // Exactly one alert per kill. The second exec runs while the first agent's pinned links may
    // still be attached (the kernel frees a replaced link after an RCU grace period), so both
    // program generations kill it and both report: the pipeline reports a process killed once.
    REQUIRE(alerts.size() == 2);
    std::set<pid_t> killed_pids;
    for (const auto& a : alerts) {
        CHECK(at_path(a, "modelwarden.enforcement.action") == "kill");
        killed_pids.insert(at_path(a, "process.pid").get<pid_t>());
    }
    CHECK(killed_pids.size() == 2);
    // fail_mode open: the clean stop removed the pins
    CHECK_FALSE(std::filesystem::exists(pin_dir + "/links"));
    std::error_code ec;
    std::filesystem::remove_all(pin_dir, ec);
}
