// freeze / thaw, isolate / release and `fallback: kill` end to end: the real agent in enforce
// mode on the live kernel, a real Python workload, effects asserted (the cgroup is frozen and
// the workload makes no progress until thawed; every egress after an isolate fails with EPERM
// until released; a protected read the host cannot deny is killed before the data arrives).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "agent_harness.hpp"
#include "pinned_maps.hpp"

using namespace mw::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Ticks a counter file every 10 ms; on each go-file it does one network step and reports it.
//   argv: COUNTER STOPFILE then steps "connect:PORT:GOFILE" | "udp:PORT:GOFILE", then a tag
const char* kPayload = R"PY(
import json, os, socket, sys, time
counter, stop = sys.argv[1], sys.argv[2]
n = 0
def tick():
    global n
    n += 1
    with open(counter + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(counter + ".tmp", counter)
def wait_for(path):
    while not os.path.exists(path):
        tick()
        time.sleep(0.01)
for step in sys.argv[3:]:
    if step.startswith("tag:"):
        continue
    kind, port, go = step.split(":", 2)
    wait_for(go)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "connect" else socket.SOCK_DGRAM)
    try:
        if kind == "connect":
            s.connect(("127.0.0.1", int(port)))
        else:
            s.sendto(b"x", ("127.0.0.1", int(port)))
        print(json.dumps({"step": kind, "port": int(port), "ok": True, "errno": 0}), flush=True)
    except OSError as e:
        print(json.dumps({"step": kind, "port": int(port), "ok": False, "errno": e.errno}), flush=True)
    finally:
        s.close()
wait_for(stop)
print(json.dumps({"step": "done", "ticks": n}), flush=True)
)PY";

std::string policy_for(const std::string& name, const std::string& tag, const std::string& egress) {
    return policy_yaml({.name = name,
                        .mode = "enforce",
                        .tag = tag,
                        .exec = R"({allow: ["/**"], action: alert})",
                        .read = R"({allow: ["/**"], action: alert})",
                        .write = R"({allow: ["/**"], action: alert})",
                        .egress = egress,
                        .listen = "{allow: [], action: alert}"});
}

long counter_of(const std::string& path) {
    const std::string t = read_text(path);
    return t.empty() ? -1 : std::stol(t);
}

// Connections the listener has accepted so far (non-blocking accept until empty).
int accept_all(const LoopbackListener& l) {
    int n = 0;
    for (int c; (c = ::accept(l.fd, nullptr, nullptr)) >= 0; ++n) ::close(c);
    return n;
}

// A bound UDP socket on 127.0.0.1 that counts datagrams.
struct UdpSink {
    int fd = -1;
    std::uint16_t port = 0;
    UdpSink() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~UdpSink() { ::close(fd); }
    int received() const {
        int n = 0;
        char b[16];
        while (::recv(fd, b, sizeof b, 0) >= 0) ++n;
        return n;
    }
};

json step_report(const std::vector<json>& lines, std::size_t index) {
    std::size_t i = 0;
    for (const auto& l : lines)
        if (l.at("step") != "done" && i++ == index) return l;
    return json();
}

}  // namespace

TEST_CASE("freeze: the workload's cgroup is frozen, it makes no progress, and a thaw through the control API resumes it",
          "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-freeze");
    const std::string pin_dir = "/sys/fs/bpf/" + tag, sock = dir.file("control.sock");
    LoopbackListener listener;
    write_file(dir.file("payload.py"), kPayload);
    write_file(dir.file("policy.yaml"), policy_for("e2e-freeze", tag, "{allow: [], action: freeze}"));
    write_file(dir.file("config.yaml"), pinned_agent_config(pin_dir, "control: {socket: " + sock + "}\naudit: {path: " +
                                                                          dir.file("audit.log") + "}\n"));
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml")});
    const std::string counter = dir.file("counter");
    BackgroundChild payload({kSystemPython, dir.file("payload.py"), counter, dir.file("stop"),
                        "connect:" + std::to_string(listener.port) + ":" + dir.file("go"), "tag:" + tag},
                       dir.file("payload.out"));
    REQUIRE(eventually([&] { return pinned_workload_of(pin_dir, payload.pid()) == 1; }));
    const std::string cgroup = "/sys/fs/cgroup/unified/modelwarden.slice/e2e-freeze-" + std::to_string(payload.pid());

    write_file(dir.file("go"), "");  // the forbidden connect
    // frozen 1 with the payload inside: the group is frozen before anyone is moved in
    const bool frozen = eventually([&] {
        return read_text(cgroup + "/cgroup.events").find("frozen 1") != std::string::npos &&
               read_text(cgroup + "/cgroup.procs") == std::to_string(payload.pid()) + "\n";
    });
    if (!frozen) FAIL("not frozen with the payload inside; agent log:\n" << agent.log());
    // no progress while frozen: the counter holds still over many of its 10 ms ticks
    const long frozen_at = counter_of(counter);
    std::this_thread::sleep_for(300ms);
    CHECK(counter_of(counter) == frozen_at);

    // listed in status, with its workload and process
    const auto status = run_agent_cli({"status", "--socket", sock});
    REQUIRE(WIFEXITED(status.status));
    REQUIRE(WEXITSTATUS(status.status) == 0);
    const auto st = json::parse(status.stdout_text);
    REQUIRE(st.at("enforcement").at("frozen").size() == 1);
    CHECK(st["enforcement"]["frozen"][0].at("workload") == "e2e-freeze");
    CHECK(st["enforcement"]["frozen"][0].at("cgroup") == cgroup);
    CHECK(st["enforcement"]["frozen"][0].at("pids") == json::array({payload.pid()}));
    CHECK(st["enforcement"]["frozen"][0].at("frozen") == true);

    // thaw through the control API (the CLI's verb): the counter moves again
    const auto thaw = run_agent_cli({"thaw", "--workload", "e2e-freeze", "--socket", sock});
    REQUIRE(WIFEXITED(thaw.status));
    CHECK(WEXITSTATUS(thaw.status) == 0);
    CHECK(json::parse(thaw.stdout_text).at("thawed").at(0).at("cgroup") == cgroup);
    CHECK(read_text(cgroup + "/cgroup.events").find("frozen 0") != std::string::npos);
    CHECK(eventually([&] { return counter_of(counter) > frozen_at + 5; }));
    // a second thaw finds nothing frozen
    const auto again = run_agent_cli({"thaw", "--workload", "e2e-freeze", "--socket", sock});
    CHECK(WEXITSTATUS(again.status) == 1);

    write_file(dir.file("stop"), "");
    const int exit_status = payload.wait();
    CHECK(WIFEXITED(exit_status));
    const auto lines = payload.lines();
    const auto connect = step_report(lines, 0);
    REQUIRE(connect.is_object());
    CHECK(connect.at("ok") == false);
    CHECK(connect.at("errno") == EPERM);
    CHECK_FALSE(listener.saw_connection());

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    const auto alerts = alerts_with_rule(events, "MW-NET-001");
    REQUIRE(alerts.size() == 1);
    CHECK(at_path(alerts[0], "modelwarden.enforcement.action") == "freeze");
    CHECK(at_path(alerts[0], "modelwarden.enforcement.applied") == true);
    CHECK(at_path(alerts[0], "modelwarden.enforcement.succeeded") == true);
    const std::string detail = at_path(alerts[0], "modelwarden.enforcement.detail").get<std::string>();
    CHECK(detail.rfind("frozen: 1 process(es) in cgroup " + cgroup, 0) == 0);
    // the freeze and the operator's thaw are both in the audit log
    const std::string audit = read_text(dir.file("audit.log"));
    CHECK(audit.find("\"enforcement.freeze\"") != std::string::npos);
    CHECK(audit.find("\"enforcement.thaw\"") != std::string::npos);
    std::filesystem::remove(cgroup);
    std::error_code ec;
    std::filesystem::remove_all(pin_dir, ec);
}

TEST_CASE("isolate: after an isolate violation every further connect and sendmsg fails with EPERM until released",
          "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-isolate");
    const std::string pin_dir = "/sys/fs/bpf/" + tag, sock = dir.file("control.sock");
    LoopbackListener allowed, forbidden;
    UdpSink udp;
    write_file(dir.file("payload.py"), kPayload);
    write_file(dir.file("policy.yaml"),
               policy_for("e2e-isolate", tag,
                          "{allow: [\"127.0.0.1:" + std::to_string(allowed.port) + "\", \"127.0.0.1:" +
                              std::to_string(udp.port) + "/udp\"], action: isolate}"));
    write_file(dir.file("config.yaml"), pinned_agent_config(pin_dir, "control: {socket: " + sock + "}\n"));
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml")});
    const std::string a = std::to_string(allowed.port), u = std::to_string(udp.port);
    BackgroundChild payload({kSystemPython, dir.file("payload.py"), dir.file("counter"), dir.file("stop"),
                        "connect:" + a + ":" + dir.file("go1"),   // allowed: connects
                        "udp:" + u + ":" + dir.file("go1"),       // allowed: sent
                        "connect:" + std::to_string(forbidden.port) + ":" + dir.file("go1"),  // isolates
                        "connect:" + a + ":" + dir.file("go1"),   // allowed address, but isolated
                        "udp:" + u + ":" + dir.file("go1"),       // sendmsg refused too
                        "connect:" + a + ":" + dir.file("go2"),   // after release: connects again
                        "tag:" + tag},
                       dir.file("payload.out"));
    REQUIRE(eventually([&] { return pinned_workload_of(pin_dir, payload.pid()) == 1; }));
    write_file(dir.file("go1"), "");
    REQUIRE(eventually([&] { return payload.lines().size() >= 5; }));
    auto lines = payload.lines();
    CHECK(step_report(lines, 0).at("ok") == true);
    CHECK(step_report(lines, 1).at("ok") == true);
    for (std::size_t i : {2u, 3u, 4u}) {
        INFO("step " << i << ": " << step_report(lines, i).dump());
        CHECK(step_report(lines, i).at("ok") == false);
        CHECK(step_report(lines, i).at("errno") == EPERM);
    }
    CHECK(accept_all(allowed) == 1);
    CHECK_FALSE(forbidden.saw_connection());
    CHECK(udp.received() == 1);

    const auto release = run_agent_cli({"release", "--workload", "e2e-isolate", "--socket", sock});
    REQUIRE(WIFEXITED(release.status));
    CHECK(WEXITSTATUS(release.status) == 0);
    CHECK(json::parse(release.stdout_text).at("released") == "e2e-isolate");
    write_file(dir.file("go2"), "");
    write_file(dir.file("stop"), "");
    CHECK(WIFEXITED(payload.wait()));
    lines = payload.lines();
    CHECK(step_report(lines, 5).at("ok") == true);
    CHECK(accept_all(allowed) == 1);

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    // one alert per refused egress: the violation that isolated, then the two refused after it
    const auto alerts = alerts_with_rule(events, "MW-NET-001");
    REQUIRE(alerts.size() == 3);
    CHECK(at_path(alerts[0], "destination.port") == forbidden.port);
    for (const auto& al : alerts) {
        CHECK(at_path(al, "modelwarden.enforcement.action") == "isolate");
        CHECK(at_path(al, "modelwarden.enforcement.applied") == true);
        CHECK(at_path(al, "modelwarden.enforcement.succeeded") == true);
    }
    std::error_code ec;
    std::filesystem::remove_all(pin_dir, ec);
}

TEST_CASE("fallback kill: a protected read this host cannot deny is killed before the data is returned",
          "[e2e][enforce]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-fallback");
    // /proc refuses fanotify permission events and this kernel has no BPF-LSM: nothing can
    // deny this open, so `fallback: kill` decides
    const std::string secret = "/proc/sys/kernel/random/boot_id";
    const std::string boot_id = read_text(secret).substr(0, 36);
    write_file(dir.file("policy.yaml"), policy_yaml({.name = "e2e-fallback",
                                                     .mode = "enforce",
                                                     .tag = tag,
                                                     .exec = R"({allow: ["/**"], action: alert})",
                                                     .read = R"({allow: ["/**"], action: alert})",
                                                     .write = R"({allow: ["/**"], action: alert})",
                                                     .sensitive = R"({paths: [")" + secret +
                                                                  R"("], action: deny, fallback: kill})"}));
    const auto check = run_agent_cli({"policy", "check", dir.file("policy.yaml")});
    INFO("policy check:\n" << check.stdout_text);
    CHECK(WEXITSTATUS(check.status) == 0);
    CHECK(check.stdout_text.find("  files.sensitive: deny (enforced as kill): ") != std::string::npos);
    CHECK(check.stdout_text.find("fallback kill: tracepoint kill (sys_exit_openat") != std::string::npos);

    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kSystemPython, std::string(MW_WORKLOADS_DIR) + "/enforce_payload.py", "read:" + secret,
                                  "tag:" + tag});
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    REQUIRE(WIFSIGNALED(child.status));
    CHECK(WTERMSIG(child.status) == SIGKILL);
    CHECK(child.stdout_text.find(boot_id) == std::string::npos);
    CHECK(child.stdout_text.find("\"read\"") == std::string::npos);
    const auto alerts = alerts_with_rule(events, "MW-FILE-003");
    REQUIRE(alerts.size() == 1);
    CHECK(at_path(alerts[0], "file.path") == secret);
    CHECK(at_path(alerts[0], "modelwarden.enforcement.action") == "kill");
    CHECK(at_path(alerts[0], "modelwarden.enforcement.succeeded") == true);
}
