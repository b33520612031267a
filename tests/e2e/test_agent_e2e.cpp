// The foundation end to end: the real agent on the live kernel watching a real PyTorch
// process. Each action of a watched server is exactly one alert with the right process
// chain; the same actions from an unwatched process produce nothing.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;

namespace {

const std::string kActions = std::string(MW_WORKLOADS_DIR) + "/actions.py";

std::string policy_for(const std::string& tag, const std::string& workdir) {
    return policy_yaml({.name = "e2e-torch",
                        .tag = tag,
                        .exec = "{allow: [], action: alert}",
                        .read = R"({allow: ["/usr/**", "/lib/**", "/etc/**", "/proc/**", "/sys/**", "/dev/**", "/tmp/**", ")" +
                                workdir + R"(/**", "/root/.cache/**"], action: alert})",
                        .write = R"({allow: ["/tmp/**", "/dev/**"], action: alert})",
                        .egress = R"({allow: ["10.0.0.0/8:443"], action: alert})",
                        .listen = "{allow: [8080], action: alert}"});
}

std::vector<pid_t> ancestor_pids(const json& alert) {
    std::vector<pid_t> pids;
    for (const auto& a : at_path(alert, "modelwarden.ancestors")) pids.push_back(a.at("pid").get<pid_t>());
    return pids;
}

}  // namespace

TEST_CASE("a watched PyTorch server's exec, secret read, connect and fork are reported exactly", "[e2e]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-e2e-watched");
    write_file(dir.file("policy.yaml"), policy_for(tag, dir.path()));
    LoopbackListener listener;

    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({kSystemPython, kActions, "exec-shell", "read:/etc/shadow",
                                  "connect:" + std::to_string(listener.port), "fork-short", "--tag=" + tag});
    REQUIRE(WIFEXITED(child.status));
    REQUIRE(WEXITSTATUS(child.status) == 0);
    const auto reports = parse_lines(child.stdout_text);
    REQUIRE(reports.size() == 5);
    const pid_t server = child.pid;
    const pid_t shell = reports[0].at("pid").get<pid_t>();
    const pid_t short_lived = reports[3].at("pid").get<pid_t>();
    CHECK(reports[1].at("ok") == true);   // monitor mode: the read succeeded
    CHECK(reports[2].at("ok") == true);   // ... and so did the connect

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    REQUIRE(!events.empty());

    SECTION("the server's start is telemetry naming the workload") {
        const auto starts = events_of(events, server, "event");
        bool found = false;
        for (const auto& e : starts)
            if (at_path(e, "event.action") == "exec") {
                found = true;
                CHECK(at_path(e, "modelwarden.workload.name") == "e2e-torch");
            }
        CHECK(found);
    }

    SECTION("the shell is one exec alert with the chain up to init") {
        const auto alerts = alerts_with_rule(events, "MW-EXEC-001");
        REQUIRE(alerts.size() == 1);
        const auto& a = alerts[0];
        CHECK(at_path(a, "process.pid") == shell);
        // The kernel reports the resolved image: /bin/sh is a symlink (to dash on Debian).
        CHECK(at_path(a, "process.executable") == std::filesystem::canonical("/bin/sh").string());
        CHECK(at_path(a, "process.args") == json::array({"/bin/sh", "-c", "exit 0"}));
        CHECK(at_path(a, "process.parent.pid") == server);
        const auto& categories = at_path(a, "event.category");
        CHECK(std::find(categories.begin(), categories.end(), "process") != categories.end());
        const auto chain = ancestor_pids(a);
        REQUIRE(chain.size() >= 3);
        CHECK(chain[0] == server);
        CHECK(chain[1] == ::getpid());   // this test process started the server
        CHECK(chain.back() == 1);        // up to init
        CHECK(at_path(a, "modelwarden.workload.root.pid") == server);
        CHECK(at_path(a, "threat.technique.id").dump().find("T1059") != std::string::npos);
    }

    SECTION("the secret read is one sensitive-file alert") {
        const auto alerts = alerts_with_rule(events, "MW-FILE-003");
        REQUIRE(alerts.size() == 1);
        CHECK(at_path(alerts[0], "process.pid") == server);
        CHECK(at_path(alerts[0], "file.path") == "/etc/shadow");
        CHECK(at_path(alerts[0], "event.outcome") == "success");
        CHECK(ancestor_pids(alerts[0]).at(0) == ::getpid());
    }

    SECTION("the connect is one egress alert with the destination") {
        const auto alerts = alerts_with_rule(events, "MW-NET-001");
        REQUIRE(alerts.size() == 1);
        CHECK(at_path(alerts[0], "process.pid") == server);
        CHECK(at_path(alerts[0], "destination.ip") == "127.0.0.1");
        CHECK(at_path(alerts[0], "destination.port") == listener.port);
    }

    SECTION("the short-lived child is attributed: fork and exit with its code") {
        const auto mine = events_of(events, short_lived);
        std::set<std::string> actions;
        for (const auto& e : mine) {
            actions.insert(at_path(e, "event.action").get<std::string>());
            CHECK(at_path(e, "process.parent.pid") == server);
            if (at_path(e, "event.action") == "exit") CHECK(at_path(e, "process.exit_code") == 7);
        }
        CHECK(actions.count("fork") == 1);
        CHECK(actions.count("exit") == 1);
        CHECK(alerts_with_rule(mine, "MW-EXEC-001").empty());
    }

    SECTION("no other alert names these processes' exec or network") {
        CHECK(alerts_with_rule(events, "MW-NET-002").empty());
        CHECK(alerts_with_rule(events, "MW-FILE-002").empty());
    }
}

TEST_CASE("an unwatched process doing the same produces nothing", "[e2e]") {
    TempDir dir;
    const std::string tag = unique_tag("mw-e2e-selected");
    write_file(dir.file("policy.yaml"), policy_for(tag, dir.path()));
    LoopbackListener listener;

    AgentProcess agent(dir, dir.file("policy.yaml"));
    // Same interpreter, same actions, but not the selector's tag.
    const auto child = run_child({kSystemPython, kActions, "exec-shell", "read:/etc/shadow",
                                  "connect:" + std::to_string(listener.port), "fork-short", "--tag=other"});
    REQUIRE(WIFEXITED(child.status));
    const auto reports = parse_lines(child.stdout_text);
    REQUIRE(reports.size() == 5);
    std::set<pid_t> pids{child.pid, reports[0].at("pid").get<pid_t>(), reports[3].at("pid").get<pid_t>()};

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    for (const auto& e : events) {
        const auto& pid = at_path(e, "process.pid");
        if (pid.is_number()) CHECK(pids.count(pid.get<pid_t>()) == 0);
    }
}
