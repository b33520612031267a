// End-to-end delivery latency: a watched Python process opens files outside its allow list at a
// fixed rate (default 1,000/s); each open is an alert the real `modelwarden run` spools and ships
// to the local HEC receiver. Latency = receiver arrival (CLOCK_REALTIME) - the event's @timestamp
// (the kernel's time of the syscall). Needs root. Prints p50/p90/p99/max in ms.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "receivers.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const char* kWorkload = R"(import os, sys, time
d, rate, n = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
t0 = time.monotonic()
for i in range(n):
    dt = t0 + i / rate - time.monotonic()
    if dt > 0:
        time.sleep(dt)
    os.close(os.open(d + "/f" + str(i), os.O_RDONLY))
)";

std::int64_t rfc3339_ns(const std::string& s) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) return -1;
    std::int64_t frac = 0;
    int digits = 0;
    if (*end == '.')
        for (++end; *end >= '0' && *end <= '9'; ++end, ++digits)
            if (digits < 9) frac = frac * 10 + (*end - '0');
    for (; digits < 9; ++digits) frac *= 10;
    return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000'000LL + frac;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (!log.empty()) {
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

}  // namespace

int main(int argc, char** argv) {
    const double rate = argc > 1 ? std::atof(argv[1]) : 1000.0;
    const int count = argc > 2 ? std::atoi(argv[2]) : 5000;
    if (::geteuid() != 0) {
        std::fprintf(stderr, "e2e_latency: needs root (the agent loads BPF programs); not run\n");
        return 2;
    }
    char tmpl[] = "/var/tmp/mw-lat-XXXXXX";
    const fs::path dir = ::mkdtemp(tmpl);
    const fs::path files = dir / "data";
    fs::create_directories(files);
    for (int i = 0; i < count; ++i) std::ofstream(files / ("f" + std::to_string(i))) << "x";

    siemtest::HecReceiver hec;
    std::ofstream(dir / "token") << hec.token << "\n";
    fs::permissions(dir / "token", fs::perms::owner_read | fs::perms::owner_write);
    const std::string tag = "mw-lat-" + std::to_string(::getpid());
    std::ofstream(dir / "policy.yaml") << R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: latency, owner: bench}
spec:
  mode: monitor
  selector:
    executable: ["/usr/bin/python3*"]
    cmdline_contains: [")" << tag << R"("]
  files:
    read: {allow: ["/usr/**", "/lib/**", "/etc/**", "/proc/**", "/sys/**", "/dev/**"], action: alert}
)";
    std::ofstream(dir / "config.yaml") << "spool: {dir: " << (dir / "spool").string() << "}\nsinks:\n  - type: hec\n    url: "
                                        << hec.url() << "\n    token_file: " << (dir / "token").string() << "\n";
    const std::string ready = (dir / "ready").string();
    const pid_t agent = spawn({MW_AGENT_BINARY, "run", "--config", (dir / "config.yaml").string(), "--policy",
                               (dir / "policy.yaml").string(), "--ready-file", ready, "--log-level", "warn"},
                              (dir / "agent.log").string());
    for (auto end = std::chrono::steady_clock::now() + 60s; !fs::exists(ready); std::this_thread::sleep_for(50ms)) {
        if (std::chrono::steady_clock::now() > end || ::waitpid(agent, nullptr, WNOHANG) == agent) {
            std::fprintf(stderr, "e2e_latency: agent did not start; see %s\n", (dir / "agent.log").c_str());
            return 1;
        }
    }
    const pid_t work = spawn({"/usr/bin/python3", "-c", kWorkload, tag, files.string(), std::to_string(rate),
                              std::to_string(count)}, "");
    int status = 0;
    ::waitpid(work, &status, 0);

    std::vector<double> lat_ms;
    for (auto end = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(100ms)) {
        const auto events = hec.events_json();
        const auto arrivals = hec.arrivals_ns();
        lat_ms.clear();
        for (std::size_t i = 0; i < events.size() && i < arrivals.size(); ++i) {
            auto env = nlohmann::json::parse(events[i], nullptr, false);
            const auto& ev = env["event"];
            if (!ev.is_object() || ev.value("/process/pid"_json_pointer, 0) != work) continue;
            if (ev.value("/event/kind"_json_pointer, std::string()) != "alert") continue;
            const auto path = ev.value("/file/path"_json_pointer, std::string());
            if (path.rfind(files.string(), 0) != 0) continue;
            const auto ts = rfc3339_ns(ev.value("@timestamp", std::string()));
            lat_ms.push_back(static_cast<double>(static_cast<std::int64_t>(arrivals[i]) - ts) / 1e6);
        }
        if (static_cast<int>(lat_ms.size()) >= count) break;
    }
    ::kill(agent, SIGTERM);
    ::waitpid(agent, nullptr, 0);
    std::sort(lat_ms.begin(), lat_ms.end());
    auto pct = [&](double p) {
        return lat_ms.empty() ? 0.0 : lat_ms[std::min(lat_ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat_ms.size())))];
    };
    std::printf("e2e_latency: rate %.0f/s, %d opens, %zu alerts received\n", rate, count, lat_ms.size());
    std::printf("syscall -> HEC receiver latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", pct(0.50), pct(0.90),
                pct(0.99), lat_ms.empty() ? 0.0 : lat_ms.back());
    std::error_code ec;
    fs::remove_all(dir, ec);
    return static_cast<int>(lat_ms.size()) == count ? 0 : 1;
}
