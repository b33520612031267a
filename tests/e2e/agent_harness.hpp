// Test harness for the agent e2e tests: starts `modelwarden run` on a policy, runs real
// workloads as children, stops the agent and returns the ECS lines it wrote.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace mw::test {

// Debian's interpreter, the one with torch: the `python3` on PATH is a pyenv one without it.
inline const std::string kSystemPython = "/usr/bin/python3";

// A private temporary directory removed at destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

struct ChildResult {
    pid_t pid = -1;
    int status = 0;             // raw wait status
    std::string stdout_text;    // with stderr too when run with merge_stderr
    // The exit code, or -1 when the child was killed by a signal.
    int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

// fork + execv with stdout (and with merge_stderr, stderr) captured; waits for exit (bounded
// by timeout, then SIGKILL).
ChildResult run_child(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(120),
                      bool merge_stderr = false);

// The modelwarden CLI (`modelwarden <args...>`, e.g. status --socket S), bounded by 30 s.
ChildResult run_agent_cli(const std::vector<std::string>& args, bool merge_stderr = false);

// A child started in the background (fork + execv) with its stdout written to a file, for
// payloads that wait on go files while the test acts. Killed at destruction unless waited for.
class BackgroundChild {
public:
    BackgroundChild(const std::vector<std::string>& argv, std::string stdout_path);
    ~BackgroundChild();
    BackgroundChild(const BackgroundChild&) = delete;
    BackgroundChild& operator=(const BackgroundChild&) = delete;

    pid_t pid() const { return pid_; }
    int wait();                                  // raw wait status
    std::string output() const;                  // stdout so far
    std::vector<nlohmann::json> lines() const;   // stdout so far, one JSON document a line

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    std::string out_path_;
};

class AgentProcess {
public:
    // Starts the agent on the given policy file and waits until it is ready.
    AgentProcess(const TempDir& dir, const std::string& policy_path, std::vector<std::string> extra_args = {});
    ~AgentProcess();

    // SIGTERM, wait for exit, parse every JSON line written. Idempotent.
    std::vector<nlohmann::json> stop();
    pid_t pid() const { return pid_; }
    int exit_status() const { return status_; }
    std::string log() const;   // the agent's stderr

private:
    pid_t pid_ = -1;
    int status_ = -1;
    std::string events_path_;
    std::string log_path_;
    std::vector<nlohmann::json> events_;
    bool stopped_ = false;
};

// Unique token for command-line selectors, so a policy picks only this test's processes.
std::string unique_tag(const std::string& prefix);

// Writes `text` to `path`.
void write_file(const std::string& path, const std::string& text);

// The whole file ("" when it cannot be opened).
std::string read_text(const std::string& path);

// Polls `holds` every 10 ms until it is true or `limit` has passed; the last answer.
template <class Predicate>
bool eventually(Predicate&& holds, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(std::chrono::milliseconds(10)))
        if (holds()) return true;
    return holds();
}

// A WorkloadPolicy selecting /usr/bin/python3* processes whose command line contains `tag`.
// Each rule field is the YAML flow value written after its key, e.g. exec =
// "{allow: [], action: kill}"; an empty field leaves its line out (and a section with no
// line at all). `extra` is appended as is, under `spec:`. Every field has a default, so a
// designated initializer names only what it sets.
struct TestPolicy {
    std::string name{};
    std::string mode = "monitor";
    std::string tag{};
    std::string exec{};
    std::string read{};
    std::string write{};
    std::string sensitive{};
    std::string egress{};
    std::string listen{};
    std::string model_dirs{};   // the value of models.dirs, e.g. ["/srv/models"]
    std::string extra{};
};
std::string policy_yaml(const TestPolicy& policy);

// Agent config keeping the BPF objects pinned under pin_dir; fail_mode open, so a clean stop
// removes the pins. `more` is appended as is (other sections: control, audit...).
std::string pinned_agent_config(const std::string& pin_dir, const std::string& more = "");

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read, closed).
std::uint16_t free_loopback_port();

// A JSON value at a dotted path ("process.parent.pid"), or null.
const nlohmann::json& at_path(const nlohmann::json& doc, const std::string& dotted);

// One JSON document per non-empty line (a workload's reports, an events file).
std::vector<nlohmann::json> parse_lines(const std::string& text);

// Alerts (event.kind "alert") whose rule.id is `rule`.
std::vector<nlohmann::json> alerts_with_rule(const std::vector<nlohmann::json>& all, const std::string& rule);

// Every alert (event.kind "alert").
std::vector<nlohmann::json> alerts_in(const std::vector<nlohmann::json>& all);

// How many alerts there are; each is named (rule, pid, path) in the failure message of the
// next assertion, so an unexpected one says what it was.
std::size_t count_alerts(const std::vector<nlohmann::json>& all);

// Every alert dumped, one a line (for INFO).
std::string alerts_text(const std::vector<nlohmann::json>& all);

// The first payload report (one JSON line a step) whose "action" is `action`, or null.
nlohmann::json report_of(const std::vector<nlohmann::json>& reports, const std::string& action);

// A TCP listener on 127.0.0.1 and an ephemeral port. accept() is non-blocking, so "the
// listener never saw a connection" is checkable.
struct LoopbackListener {
    int fd = -1;
    std::uint16_t port = 0;
    LoopbackListener();
    ~LoopbackListener();
    LoopbackListener(const LoopbackListener&) = delete;
    LoopbackListener& operator=(const LoopbackListener&) = delete;
    bool saw_connection() const;
};

// Events whose process.pid == pid (and optional event.kind).
std::vector<nlohmann::json> events_of(const std::vector<nlohmann::json>& all, pid_t pid, const std::string& kind = "");

}  // namespace mw::test
