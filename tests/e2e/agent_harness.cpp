// Agent e2e harness (see agent_harness.hpp).
#include "agent_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace mw::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mw-e2e-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string policy_yaml(const TestPolicy& p) {
    auto line = [](const std::string& key, const std::string& value) {
        return value.empty() ? std::string() : "    " + key + ": " + value + "\n";
    };
    auto section = [](const std::string& name, const std::string& lines) {
        return lines.empty() ? std::string() : "  " + name + ":\n" + lines;
    };
    return "apiVersion: modelwarden/v1\n"
           "kind: WorkloadPolicy\n"
           "metadata: {name: " + p.name + ", owner: tests}\n"
           "spec:\n"
           "  mode: " + p.mode + "\n"
           "  selector:\n"
           "    executable: [\"/usr/bin/python3*\"]\n"
           "    cmdline_contains: [\"" + p.tag + "\"]\n" +
           section("process", line("exec", p.exec)) +
           section("files", line("read", p.read) + line("write", p.write) + line("sensitive", p.sensitive)) +
           section("network", line("egress", p.egress) + line("listen", p.listen)) +
           section("models", line("dirs", p.model_dirs)) + p.extra;
}

std::string pinned_agent_config(const std::string& pin_dir, const std::string& more) {
    return "agent: {pin_dir: " + pin_dir + ", fail_mode: open}\n" + more;
}

std::uint16_t free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string unique_tag(const std::string& prefix) {
    std::random_device rd;
    return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
}

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

bool wait_with_timeout(pid_t pid, int& status, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}  // namespace

ChildResult run_child(const std::vector<std::string>& argv, std::chrono::seconds timeout, bool merge_stderr) {
    int pipefd[2];
    REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
    auto args = c_argv(argv);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(pipefd[1], STDOUT_FILENO);
        if (merge_stderr) ::dup2(pipefd[1], STDERR_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    ChildResult result;
    result.pid = pid;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) result.stdout_text.append(buf, static_cast<std::size_t>(n));
    ::close(pipefd[0]);
    if (!wait_with_timeout(pid, result.status, timeout)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &result.status, 0);
        FAIL("child " << argv[0] << " timed out");
    }
    return result;
}

ChildResult run_agent_cli(const std::vector<std::string>& args, bool merge_stderr) {
    std::vector<std::string> argv{MW_AGENT_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_child(argv, std::chrono::seconds(30), merge_stderr);
}

BackgroundChild::BackgroundChild(const std::vector<std::string>& argv, std::string stdout_path)
    : out_path_(std::move(stdout_path)) {
    auto args = c_argv(argv);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        const int fd = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, STDOUT_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

BackgroundChild::~BackgroundChild() {
    if (pid_ > 0 && !reaped_ && ::waitpid(pid_, nullptr, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

int BackgroundChild::wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
}

std::string BackgroundChild::output() const { return read_text(out_path_); }

std::vector<nlohmann::json> BackgroundChild::lines() const { return parse_lines(output()); }

AgentProcess::AgentProcess(const TempDir& dir, const std::string& policy_path, std::vector<std::string> extra_args) {
    events_path_ = dir.file("events.jsonl");
    log_path_ = dir.file("agent.log");
    const std::string ready = dir.file("agent.ready");
    std::vector<std::string> argv{MW_AGENT_BINARY, "run", "--policy", policy_path, "--events-file", events_path_,
                                  "--ready-file", ready, "--log-level", "debug"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto args = c_argv(argv);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(log, STDERR_FILENO);
        ::dup2(log, STDOUT_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!fs::exists(ready)) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            status_ = status;
            stopped_ = true;
            FAIL("agent exited before ready (status " << status << "):\n" << log());
        }
        if (std::chrono::steady_clock::now() > deadline) FAIL("agent not ready after 60 s:\n" << log());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

AgentProcess::~AgentProcess() {
    if (!stopped_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

std::vector<nlohmann::json> AgentProcess::stop() {
    if (stopped_) return events_;
    stopped_ = true;
    // Let the ring buffer drain what the workloads just did before asking the agent to stop.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(pid_, SIGTERM);
    int status = 0;
    if (!wait_with_timeout(pid_, status, std::chrono::seconds(30))) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        FAIL("agent did not stop on SIGTERM:\n" << log());
    }
    status_ = status;
    std::ifstream in(events_path_);
    std::string line;
    std::size_t lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        auto doc = nlohmann::json::parse(line, nullptr, false);
        if (doc.is_discarded()) FAIL("events line " << lineno << " is not valid JSON: " << line);
        events_.push_back(std::move(doc));
    }
    return events_;
}

std::string AgentProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const nlohmann::json& at_path(const nlohmann::json& doc, const std::string& dotted) {
    static const nlohmann::json null_value;
    const nlohmann::json* cur = &doc;
    std::size_t start = 0;
    while (start <= dotted.size()) {
        const auto dot = dotted.find('.', start);
        const auto key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!cur->is_object() || !cur->contains(key)) return null_value;
        cur = &(*cur)[key];
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return *cur;
}

std::vector<nlohmann::json> parse_lines(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

std::vector<nlohmann::json> alerts_with_rule(const std::vector<nlohmann::json>& all, const std::string& rule) {
    std::vector<nlohmann::json> out;
    for (const auto& e : all)
        if (at_path(e, "event.kind") == "alert" && at_path(e, "rule.id") == rule) out.push_back(e);
    return out;
}

std::vector<nlohmann::json> alerts_in(const std::vector<nlohmann::json>& all) {
    std::vector<nlohmann::json> out;
    for (const auto& e : all)
        if (at_path(e, "event.kind") == "alert") out.push_back(e);
    return out;
}

std::size_t count_alerts(const std::vector<nlohmann::json>& all) {
    const auto alerts = alerts_in(all);
    for (const auto& a : alerts)
        UNSCOPED_INFO("alert: " << a.value("rule", nlohmann::json::object()).value("id", std::string("?")) << " pid "
                                << a.value("process", nlohmann::json::object()).value("pid", 0) << " "
                                << a.value("file", nlohmann::json::object()).value("path", std::string()));
    return alerts.size();
}

std::string alerts_text(const std::vector<nlohmann::json>& all) {
    std::string out;
    for (const auto& a : alerts_in(all)) out += a.dump() + "\n";
    return out;
}

nlohmann::json report_of(const std::vector<nlohmann::json>& reports, const std::string& action) {
    for (const auto& r : reports)
        if (r.at("action") == action) return r;
    return nlohmann::json();
}

LoopbackListener::LoopbackListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
}

LoopbackListener::~LoopbackListener() { ::close(fd); }

bool LoopbackListener::saw_connection() const {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return false;
    ::close(c);
    return true;
}

std::vector<nlohmann::json> events_of(const std::vector<nlohmann::json>& all, pid_t pid, const std::string& kind) {
    std::vector<nlohmann::json> out;
    for (const auto& e : all) {
        const auto& p = at_path(e, "process.pid");
        if (!p.is_number() || p.get<pid_t>() != pid) continue;
        if (!kind.empty() && at_path(e, "event.kind") != kind) continue;
        out.push_back(e);
    }
    return out;
}

}  // namespace mw::test
