// e2e (root): the real agent on the live kernel. A watched PyTorch-style server reading a
// model-extension file outside its models.dirs raises exactly one MW-MODEL-003 alert; a plain
// file there and a model file inside models.dirs do not.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "agent_harness.hpp"

using namespace mw::test;

namespace {

// `extra_read` widens the read allow list: with the test's directory in it, the kernel still
// reports the model-file open (MW_FLAG_MODEL_FILE) and nothing else.
std::string policy_for(const std::string& tag, const std::string& models, const std::string& extra_read = "") {
    return R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: e2e-model-dirs, owner: tests}
spec:
  mode: monitor
  selector:
    executable: ["/usr/bin/python3*"]
    cmdline_contains: [")" + tag + R"("]
  process:
    exec: {allow: [], action: alert}
  files:
    read: {allow: ["/usr/**", "/lib/**", "/etc/**", "/proc/**", "/sys/**", "/dev/**", "/root/.cache/**)" + extra_read + R"("], action: alert}
    write: {allow: ["/dev/**"], action: alert}
  models:
    dirs: [")" + models + R"("]
)";
}

}  // namespace

TEST_CASE("a watched server reading a model file outside models.dirs raises one MW-MODEL-003 alert", "[e2e]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: the agent needs root");
        return;
    }
    TempDir dir;
    const std::string tag = unique_tag("mw-e2e-model-dirs");
    const std::string models = dir.file("models");
    std::filesystem::create_directories(models);
    write_file(dir.file("stray.pt"), "weights");
    write_file(dir.file("notes.txt"), "text");
    write_file(models + "/approved.pt", "weights");
    write_file(dir.file("policy.yaml"), policy_for(tag, models));

    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({"/usr/bin/python3", std::string(MW_WORKLOADS_DIR) + "/actions.py",
                                  "read:" + dir.file("stray.pt"), "read:" + dir.file("notes.txt"),
                                  "read:" + models + "/approved.pt", "--tag=" + tag});
    REQUIRE(WIFEXITED(child.status));
    REQUIRE(WEXITSTATUS(child.status) == 0);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    const auto model = alerts_with_rule(events, "MW-MODEL-003");
    for (const auto& m : model) UNSCOPED_INFO("MW-MODEL-003: pid " << at_path(m, "process.pid") << " " << at_path(m, "file.path"));
    REQUIRE(model.size() == 1);
    CHECK(at_path(model[0], "process.pid") == child.pid);
    CHECK(at_path(model[0], "file.path") == dir.file("stray.pt"));
    CHECK(at_path(model[0], "event.outcome") == "success");  // monitor mode: the read went ahead

    // The other two opens are outside the read allow list: plain read findings, not model ones.
    std::vector<std::string> read_paths;
    for (const auto& a : alerts_with_rule(events, "MW-FILE-001"))
        if (at_path(a, "process.pid") == child.pid) read_paths.push_back(at_path(a, "file.path").get<std::string>());
    CHECK(std::count(read_paths.begin(), read_paths.end(), dir.file("notes.txt")) == 1);
    CHECK(std::count(read_paths.begin(), read_paths.end(), models + "/approved.pt") == 1);
    CHECK(std::count(read_paths.begin(), read_paths.end(), dir.file("stray.pt")) == 0);
}

TEST_CASE("a model file inside the read allow list but outside models.dirs is still one MW-MODEL-003 alert", "[e2e]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: the agent needs root");
        return;
    }
    TempDir dir;
    const std::string tag = unique_tag("mw-e2e-model-dirs");
    const std::string models = dir.file("models");
    std::filesystem::create_directories(models);
    write_file(dir.file("stray.pt"), "weights");
    write_file(dir.file("notes.txt"), "text");
    write_file(models + "/approved.pt", "weights");
    write_file(dir.file("policy.yaml"), policy_for(tag, models, "\", \"" + dir.path() + "/**"));

    AgentProcess agent(dir, dir.file("policy.yaml"));
    const auto child = run_child({"/usr/bin/python3", std::string(MW_WORKLOADS_DIR) + "/actions.py",
                                  "read:" + dir.file("stray.pt"), "read:" + dir.file("notes.txt"),
                                  "read:" + models + "/approved.pt", "--tag=" + tag});
    REQUIRE(WIFEXITED(child.status));
    REQUIRE(WEXITSTATUS(child.status) == 0);
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());

    const auto model = alerts_with_rule(events, "MW-MODEL-003");
    for (const auto& m : model) UNSCOPED_INFO("MW-MODEL-003: pid " << at_path(m, "process.pid") << " " << at_path(m, "file.path"));
    REQUIRE(model.size() == 1);
    CHECK(at_path(model[0], "process.pid") == child.pid);
    CHECK(at_path(model[0], "file.path") == dir.file("stray.pt"));
    // notes.txt and approved.pt are allowed now: no read finding for anything in the test dir.
    std::size_t in_dir = 0;
    for (const auto& a : alerts_with_rule(events, "MW-FILE-001"))
        if (at_path(a, "process.pid") == child.pid &&
            at_path(a, "file.path").get<std::string>().rfind(dir.path() + "/", 0) == 0)
            ++in_dir;
    CHECK(in_dir == 0);
}
