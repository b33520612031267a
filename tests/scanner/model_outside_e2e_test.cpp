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
    return policy_yaml({.name = "e2e-model-dirs",
                        .tag = tag,
                        .exec = "{allow: [], action: alert}",
                        .read = R"({allow: ["/usr/**", "/lib/**", "/etc/**", "/proc/**", "/sys/**", "/dev/**", "/root/.cache/**)" +
                                extra_read + R"("], action: alert})",
                        .write = R"({allow: ["/dev/**"], action: alert})",
                        .model_dirs = "[\"" + models + "\"]"});
}

// One run: the agent under the policy (the read allow list widened by `extra_read`), a watched
// child reading stray.pt and notes.txt in the test dir and models/approved.pt.
struct ModelRun {
    TempDir dir;
    std::string models = dir.file("models");
    ChildResult child;
    std::vector<nlohmann::json> events;
    std::vector<nlohmann::json> model_alerts;
    std::string log;
};

void run_reads(ModelRun& run, bool allow_test_dir) {
    const std::string tag = unique_tag("mw-e2e-model-dirs");
    std::filesystem::create_directories(run.models);
    write_file(run.dir.file("stray.pt"), "weights");
    write_file(run.dir.file("notes.txt"), "text");
    write_file(run.models + "/approved.pt", "weights");
    write_file(run.dir.file("policy.yaml"),
               policy_for(tag, run.models, allow_test_dir ? "\", \"" + run.dir.path() + "/**" : ""));
    AgentProcess agent(run.dir, run.dir.file("policy.yaml"));
    run.child = run_child({kSystemPython, std::string(MW_WORKLOADS_DIR) + "/actions.py",
                           "read:" + run.dir.file("stray.pt"), "read:" + run.dir.file("notes.txt"),
                           "read:" + run.models + "/approved.pt", "--tag=" + tag});
    run.events = agent.stop();
    run.log = agent.log();
    run.model_alerts = alerts_with_rule(run.events, "MW-MODEL-003");
    for (const auto& m : run.model_alerts)
        UNSCOPED_INFO("MW-MODEL-003: pid " << at_path(m, "process.pid") << " " << at_path(m, "file.path"));
}

// The child ran to the end and its stray.pt read is the one MW-MODEL-003 alert of the run.
void require_one_stray_alert(const ModelRun& run) {
    INFO("agent log:\n" << run.log);
    REQUIRE(WIFEXITED(run.child.status));
    REQUIRE(WEXITSTATUS(run.child.status) == 0);
    REQUIRE(run.model_alerts.size() == 1);
    CHECK(at_path(run.model_alerts[0], "process.pid") == run.child.pid);
    CHECK(at_path(run.model_alerts[0], "file.path") == run.dir.file("stray.pt"));
}

}  // namespace

TEST_CASE("a watched server reading a model file outside models.dirs raises one MW-MODEL-003 alert", "[e2e]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: the agent needs root");
        return;
    }
    ModelRun run;
    run_reads(run, false);
    require_one_stray_alert(run);
    const auto& dir = run.dir;
    const auto& child = run.child;
    const auto& model = run.model_alerts;
    CHECK(at_path(model[0], "event.outcome") == "success");  // monitor mode: the read went ahead

    // The other two opens are outside the read allow list: plain read findings, not model ones.
    std::vector<std::string> read_paths;
    for (const auto& a : alerts_with_rule(run.events, "MW-FILE-001"))
        if (at_path(a, "process.pid") == child.pid) read_paths.push_back(at_path(a, "file.path").get<std::string>());
    CHECK(std::count(read_paths.begin(), read_paths.end(), dir.file("notes.txt")) == 1);
    CHECK(std::count(read_paths.begin(), read_paths.end(), run.models + "/approved.pt") == 1);
    CHECK(std::count(read_paths.begin(), read_paths.end(), dir.file("stray.pt")) == 0);
}

TEST_CASE("a model file inside the read allow list but outside models.dirs is still one MW-MODEL-003 alert", "[e2e]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: the agent needs root");
        return;
    }
    ModelRun run;
    run_reads(run, true);
    require_one_stray_alert(run);
    const auto& dir = run.dir;
    // notes.txt and approved.pt are allowed now: no read finding for anything in the test dir.
    std::size_t in_dir = 0;
    for (const auto& a : alerts_with_rule(run.events, "MW-FILE-001"))
        if (at_path(a, "process.pid") == run.child.pid &&
            at_path(a, "file.path").get<std::string>().rfind(dir.path() + "/", 0) == 0)
            ++in_dir;
    CHECK(in_dir == 0);
}
