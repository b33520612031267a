// Test harness for the agent e2e tests: starts `modelwarden run` on a policy, runs real
// workloads as children, stops the agent and returns the ECS lines it wrote.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace mw::test {

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
    std::string stdout_text;
};

// fork + execv with stdout captured; waits for exit (bounded by timeout, then SIGKILL).
ChildResult run_child(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(120));

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

// A JSON value at a dotted path ("process.parent.pid"), or null.
const nlohmann::json& at_path(const nlohmann::json& doc, const std::string& dotted);

// One JSON document per non-empty line (a workload's reports, an events file).
std::vector<nlohmann::json> parse_lines(const std::string& text);

// Alerts (event.kind "alert") whose rule.id is `rule`.
std::vector<nlohmann::json> alerts_with_rule(const std::vector<nlohmann::json>& all, const std::string& rule);

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
