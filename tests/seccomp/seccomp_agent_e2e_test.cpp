// e2e through the running agent (root, live kernel): `run --learn-seccomp` learns a real
// PyTorch server and writes its set at stop; `seccomp generate` makes the profile; the same
// server runs unchanged under `modelwarden exec --seccomp`; a payload's execve, ptrace and
// socket(AF_PACKET) under it are exactly one MW-SECCOMP-001 alert each in the agent's output
// (blocked under errno, killed under kill_process, run and reported under log).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kServer = std::string(MW_WORKLOADS_DIR) + "/model_server.py";
const std::string kPayload = std::string(MW_SECCOMP_TEST_DIR) + "/payload.py";
const std::string kPayloadLog = std::string(MW_SECCOMP_TEST_DIR) + "/payload_log.py";
const std::string kWorkload = "seccomp-agent-e2e";

std::string policy_for(const std::string& tag)
{
    return policy_yaml({.name = kWorkload,
                        .tag = tag,
                        .exec = "{allow: [], action: alert}",
                        .read = R"({allow: ["/**"], action: alert})",
                        .write = R"({allow: ["/**"], action: alert})",
                        .egress = R"({allow: ["127.0.0.0/8:*"], action: alert})",
                        .listen = "{allow: [8080], action: alert}"});
}

// No pins (fail_mode off): other agents may run on this host; learned sets go to the test dir.
std::string config_for(const TempDir& dir)
{
    return "agent: {fail_mode: \"off\"}\nsensors:\n  seccomp_violations: true\n  seccomp_dir: \"" +
           dir.file("learned") + "\"\n";
}

// One POST once the server listens; retries for up to 120 s (importing torch is slow).
std::string request_once(std::uint16_t port)
{
    for (int attempt = 0; attempt < 1200; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
            const std::string req = "POST / HTTP/1.0\r\nContent-Length: 9\r\n\r\n[1,2,3,4]";
            std::string out;
            if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
                char buf[4096];
                ssize_t n;
                while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
            }
            ::close(fd);
            return out;
        }
        ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "server never listened";
}

struct Served {
    ChildResult server;
    std::string reply;
};

// Runs argv (a server serving one request on `port`) and sends it that request.
Served serve_one(const std::vector<std::string>& argv, std::uint16_t port)
{
    Served s;
    std::thread client([&] { s.reply = request_once(port); });
    s.server = run_child(argv, std::chrono::seconds(180));
    client.join();
    return s;
}

std::vector<std::string> server_argv(const std::string& checkpoint, std::uint16_t port, const std::string& tag)
{
    return {kSystemPython, kServer, "--model", checkpoint, "--port", std::to_string(port), "--requests", "1", "--tag", tag};
}

// `modelwarden exec --seccomp PROFILE [--policy P] -- argv`.
std::vector<std::string> confined(const std::string& profile, std::vector<std::string> argv,
                                  const std::string& policy = "")
{
    std::vector<std::string> out{MW_AGENT_BINARY, "exec", "--seccomp", profile};
    if (!policy.empty()) out.insert(out.end(), {"--policy", policy});
    out.push_back("--");
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

std::set<std::string> json_strings(const json& array)
{
    std::set<std::string> out;
    for (const auto& v : array) out.insert(v.get<std::string>());
    return out;
}

json read_json(const std::string& path)
{
    std::ifstream in(path);
    REQUIRE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = json::parse(ss.str(), nullptr, false);
    REQUIRE(!doc.is_discarded());
    return doc;
}

// The learn phase, shared by the tests: returns the learned set file the agent wrote.
std::string learn_with_agent(const TempDir& dir, const std::string& checkpoint, const std::string& tag)
{
    write_file(dir.file("policy.yaml"), policy_for(tag));
    write_file(dir.file("config.yaml"), config_for(dir));
    fs::remove(dir.file("agent.ready"));  // the learning agent's: the harness would not wait for this one
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml"), "--learn-seccomp"});
    const auto port = free_loopback_port();
    const auto s = serve_one(server_argv(checkpoint, port, tag), port);
    INFO("reply: " << s.reply << "\nserver stdout: " << s.server.stdout_text);
    REQUIRE(WIFEXITED(s.server.status));
    REQUIRE(WEXITSTATUS(s.server.status) == 0);
    REQUIRE(s.reply.rfind("HTTP/1.0 200", 0) == 0);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    REQUIRE(WIFEXITED(agent.exit_status()));
    REQUIRE(WEXITSTATUS(agent.exit_status()) == 0);
    // Unconfined, the server is blocked by nothing.
    CHECK(alerts_with_rule(events, "MW-SECCOMP-001").empty());
    const std::string learned = dir.file("learned/" + kWorkload + ".json");
    REQUIRE(fs::exists(learned));
    return learned;
}

// `seccomp generate --workload NAME`: the set the agent wrote in its seccomp_dir.
std::string generate(const TempDir& dir, const std::string& action)
{
    const std::string out = dir.file("profile-" + action);
    const auto gen = run_child({MW_AGENT_BINARY, "seccomp", "generate", "--workload", kWorkload, "--dir",
                                dir.file("learned"), "--out-dir", out, "--action", action});
    INFO("generate: " << gen.stdout_text);
    REQUIRE(WIFEXITED(gen.status));
    REQUIRE(WEXITSTATUS(gen.status) == 0);
    const std::string profile = out + "/" + kWorkload + ".seccomp.json";
    REQUIRE(fs::exists(profile));
    return profile;
}

struct Checkpoint {
    TempDir dir;
    std::string path;
    Checkpoint()
    {
        const auto made = run_child({kSystemPython, std::string(MW_WORKLOADS_DIR) + "/make_checkpoints.py", dir.path()});
        REQUIRE(WIFEXITED(made.status));
        REQUIRE(WEXITSTATUS(made.status) == 0);
        path = dir.file("good.pt");
    }
};

}  // namespace

TEST_CASE("agent: learn a PyTorch server then generate and run it unchanged and each payload syscall is one alert",
          "[seccomp][e2e][agent]")
{
    REQUIRE(::geteuid() == 0);
    Checkpoint ckpt;
    TempDir dir;
    const std::string tag = unique_tag("mw-seccomp-agent");

    // 1. Learn: the agent's kernel bitmap, written to seccomp_dir/<workload>.json at stop.
    const std::string learned_path = learn_with_agent(dir, ckpt.path, tag);
    const json learned = read_json(learned_path);
    INFO("learned set: " << learned.dump());
    CHECK(learned.at("workload") == kWorkload);
    const auto names = json_strings(learned.at("syscalls"));
    for (auto name : {"openat", "mmap", "read", "write", "socket", "bind", "listen", "accept4", "futex", "close"})
        CHECK(names.count(name) == 1);
    // Marked at its exec, so the execve that started it is not the server's; it calls no other.
    CHECK(names.count("execve") == 0);
    CHECK(names.count("ptrace") == 0);

    // 2. Generate from the agent's file.
    const std::string profile = generate(dir, "errno");
    const json prof = read_json(profile);
    CHECK(prof.at("defaultAction") == "SCMP_ACT_ERRNO");

    // 3. The same server, unchanged, under the profile, with the agent reporting violations.
    write_file(dir.file("config.yaml"), config_for(dir));
    fs::remove(dir.file("agent.ready"));  // the learning agent's: the harness would not wait for this one
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml"), "--learn-seccomp"});
    const auto port = free_loopback_port();
    const auto s = serve_one(confined(profile, server_argv(ckpt.path, port, tag)), port);
    INFO("reply: " << s.reply << "\nserver stdout: " << s.server.stdout_text);
    REQUIRE(WIFEXITED(s.server.status));
    CHECK(WEXITSTATUS(s.server.status) == 0);
    CHECK(s.reply.rfind("HTTP/1.0 200", 0) == 0);
    CHECK(s.reply.find("\"prediction\"") != std::string::npos);

    // 4. A payload of the same workload under the same profile: EPERM three times.
    // --policy: into the workload's own cgroup, /modelwarden/<workload>.
    const auto payload = run_child(confined(profile, {kSystemPython, kPayload, "--tag", tag}, dir.file("policy.yaml")));
    INFO("payload stdout: " << payload.stdout_text);
    REQUIRE(WIFEXITED(payload.status));
    CHECK(WEXITSTATUS(payload.status) == 0);  // exits 0 only when all three were EPERM

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    const auto alerts = alerts_with_rule(events, "MW-SECCOMP-001");
    INFO("seccomp alerts:\n" << alerts_text(alerts));
    CHECK(events_of(alerts, s.server.pid).empty());  // the server ran unchanged: nothing blocked
    const auto mine = events_of(alerts, payload.pid);
    REQUIRE(mine.size() == 3);
    REQUIRE(alerts.size() == 3);
    CHECK(at_path(mine[0], "modelwarden.syscall.name") == "execve");
    CHECK(at_path(mine[1], "modelwarden.syscall.name") == "ptrace");
    CHECK(at_path(mine[1], "modelwarden.syscall.args")[0] == 0);  // PTRACE_TRACEME
    CHECK(at_path(mine[2], "modelwarden.syscall.name") == "socket");
    CHECK(at_path(mine[2], "modelwarden.syscall.args")[0] == 17);      // AF_PACKET
    CHECK(at_path(mine[2], "modelwarden.syscall.args")[1] == (3 | 0x80000));  // SOCK_RAW | SOCK_CLOEXEC (Python adds it)
    CHECK(at_path(mine[2], "modelwarden.syscall.args")[2] == 0x0300);  // htons(ETH_P_ALL)
    for (const auto& a : mine) {
        CHECK(at_path(a, "modelwarden.workload.name") == kWorkload);
        CHECK(at_path(a, "modelwarden.enforcement.action") == "deny");
        CHECK(at_path(a, "modelwarden.enforcement.detail") == "seccomp");
        CHECK(at_path(a, "process.executable") == fs::canonical(kSystemPython).string());  // the kernel names the link target
        CHECK(at_path(a, "process.parent.pid") == ::getpid());  // the chain: this test started it
        CHECK(at_path(a, "modelwarden.ancestors")[0].at("pid") == ::getpid());
        CHECK(at_path(a, "modelwarden.syscall.args").size() == 6);
        CHECK(at_path(a, "modelwarden.process.cgroup.path") == "/modelwarden/" + kWorkload);
    }

    // 5. Learning stayed on: seccomp runs before sys_enter, so what the filter stopped is
    // never learned, and the profile cannot grow the payload's syscalls back in.
    const auto relearned = json_strings(read_json(learned_path).at("syscalls"));
    CHECK(relearned.count("execve") == 0);
    CHECK(relearned.count("ptrace") == 0);
}

TEST_CASE("agent: a payload under a kill_process profile dies with SIGSYS and is one kill alert",
          "[seccomp][e2e][agent]")
{
    REQUIRE(::geteuid() == 0);
    Checkpoint ckpt;
    TempDir dir;
    const std::string tag = unique_tag("mw-seccomp-agent-kill");
    learn_with_agent(dir, ckpt.path, tag);
    const std::string profile = generate(dir, "kill_process");

    write_file(dir.file("config.yaml"), config_for(dir));
    fs::remove(dir.file("agent.ready"));  // the learning agent's: the harness would not wait for this one
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml")});
    const auto payload = run_child(confined(profile, {kSystemPython, kPayload, "--tag", tag}));
    REQUIRE(WIFSIGNALED(payload.status));
    CHECK(WTERMSIG(payload.status) == SIGSYS);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    const auto alerts = alerts_with_rule(events, "MW-SECCOMP-001");
    INFO("seccomp alerts:\n" << alerts_text(alerts));
    REQUIRE(alerts.size() == 1);
    const auto& a = alerts[0];
    CHECK(at_path(a, "process.pid") == payload.pid);
    CHECK(at_path(a, "modelwarden.syscall.name") == "execve");  // the payload's first move
    CHECK(at_path(a, "modelwarden.enforcement.action") == "kill");
    CHECK(at_path(a, "modelwarden.workload.name") == kWorkload);
    CHECK(at_path(a, "process.parent.pid") == ::getpid());
}

TEST_CASE("agent: a payload under a log profile runs its execve and ptrace and each is one logged alert",
          "[seccomp][e2e][agent]")
{
    REQUIRE(::geteuid() == 0);
    Checkpoint ckpt;
    TempDir dir;
    const std::string tag = unique_tag("mw-seccomp-agent-log");
    learn_with_agent(dir, ckpt.path, tag);
    const std::string profile = generate(dir, "log");
    CHECK(read_json(profile).at("defaultAction") == "SCMP_ACT_LOG");

    write_file(dir.file("config.yaml"), config_for(dir));
    fs::remove(dir.file("agent.ready"));  // the learning agent's: the harness would not wait for this one
    AgentProcess agent(dir, dir.file("policy.yaml"), {"--config", dir.file("config.yaml")});
    // --policy: the payload's own cgroup, which `exec` registers with the agent's log map.
    const auto payload = run_child(confined(profile, {kSystemPython, kPayloadLog, "--tag", tag}, dir.file("policy.yaml")));
    INFO("payload stdout: " << payload.stdout_text);
    REQUIRE(WIFEXITED(payload.status));
    CHECK(WEXITSTATUS(payload.status) == 0);  // its execve and ptrace ran: logged, not stopped
    CHECK(payload.stdout_text.find("{\"ptrace\": 0}") != std::string::npos);

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    const auto alerts = alerts_with_rule(events, "MW-SECCOMP-001");
    INFO("seccomp alerts:\n" << alerts_text(alerts));
    REQUIRE(alerts.size() == 2);
    const auto mine = events_of(alerts, payload.pid);
    REQUIRE(mine.size() == 2);
    CHECK(at_path(mine[0], "modelwarden.syscall.name") == "execve");
    CHECK(at_path(mine[1], "modelwarden.syscall.name") == "ptrace");
    CHECK(at_path(mine[1], "modelwarden.syscall.args")[0] == 0);  // PTRACE_TRACEME
    for (const auto& a : alerts) {
        CHECK(at_path(a, "modelwarden.workload.name") == kWorkload);
        CHECK(at_path(a, "modelwarden.enforcement.action") == "log");
        CHECK(at_path(a, "modelwarden.enforcement.detail") == "seccomp");
        CHECK(at_path(a, "event.outcome") == "success");
        CHECK(at_path(a, "process.executable") == fs::canonical(kSystemPython).string());  // the kernel names the link target
        CHECK(at_path(a, "process.parent.pid") == ::getpid());
        CHECK(at_path(a, "modelwarden.process.cgroup.path") == "/modelwarden/" + kWorkload);
    }
}
