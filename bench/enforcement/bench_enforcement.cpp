// Enforcement benchmark (issue 3): what the enforcement hooks cost and how fast a kill lands.
//  1. connect loop (UDP socket + connect + close to 127.0.0.1) under no agent, an unwatched
//     process, and a watched process whose egress allow list admits the address: the cost of
//     the root-attached cgroup connect4 program;
//  2. forbidden execve -> death: fork, the child execs a binary outside the exec allow list and
//     is SIGKILLed at sched_process_exec; timed from the go signal to waitpid, beside the same
//     exec allowed (the binary runs and exits) and with no agent.
// Configurations are interleaved per round (order alternating) and reported as medians of the
// per-round ratios to the adjacent no-agent run, as in bench/foundation.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // flexible array members in the C ABI header
#include <modelwarden/events.h>
#include "daemon/kernel_policy.hpp"
#include "policy/compile.hpp"
#include "policy/parser.hpp"
#include "sensors/sensors.hpp"
#pragma GCC diagnostic pop

namespace {

using namespace mw;

struct Options {
    int rounds = 5;
    int connects = 50'000;  // per measurement
    int execs = 200;        // per measurement
    bool quick = false;
};

int g_failures = 0;

void check(bool ok, const std::string& what) {
    fmt::print("  [{}] {}\n", ok ? "ok" : "FAILED", what);
    if (!ok) ++g_failures;
}

std::uint64_t now_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

constexpr std::uint16_t kAllowedPort = 9;     // discard: nothing listens, UDP connect needs nobody
constexpr std::uint16_t kForbiddenPort = 13;

// One workload in enforce mode: UDP egress to 127.0.0.1:9 allowed, anything else denied;
// /usr/bin/true may be exec'd, /usr/bin/false is killed.
const char* kPolicy = R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: bench-enforce}
spec:
  mode: enforce
  selector: {executable: [/nonexistent/bench-selector]}
  process:
    exec: {allow: [/usr/bin/true], action: kill}
  files:
    read: {allow: ["/**"]}
    write: {allow: ["/**"]}
  network:
    egress: {allow: ["127.0.0.1:9/udp"], action: deny}
)";

// The sensors loaded and attached (cgroup programs at the cgroup2 root), policy in the maps.
// Destroying it detaches everything: the "none" runs have no program attached at all.
std::unique_ptr<sensors::Sensors> start_agent() {
    auto opened = sensors::Sensors::open();
    if (!opened) {
        spdlog::error("bench: sensors open: {}", opened.error().message);
        return nullptr;
    }
    auto s = std::make_unique<sensors::Sensors>(std::move(opened).value());
    sensors::SensorConfig config;
    config.cgroup2_root = find_cgroup2_mount();
    if (auto r = s->configure(config); !r) {
        spdlog::error("bench: sensors configure: {}", r.error().message);
        return nullptr;
    }
    if (auto r = s->load(); !r) {
        spdlog::error("bench: sensors load: {}", r.error().message);
        return nullptr;
    }
    auto report = policy::parse_policy_text(kPolicy, "bench-policy.yaml");
    if (!report.ok()) {
        spdlog::error("bench: policy: {}", report.errors.front().str());
        return nullptr;
    }
    if (auto r = load_policy_maps(*s, policy::compile_policy_set(report.policies), config.cgroup2_root); !r) {
        spdlog::error("bench: load_policy_maps: {}", r.error().message);
        return nullptr;
    }
    if (auto r = s->attach(); !r) {
        spdlog::error("bench: attach: {}", r.error().message);
        return nullptr;
    }
    return s;
}

// Forks a child that waits for `go`, then runs `body` and exits with its result. `setup(pid)`
// runs before the go signal (marking the child as a workload member).
struct Forked {
    pid_t pid = -1;
    int go = -1;
    int result = -1;
};

Forked fork_waiting(const std::function<int(int result_fd)>& body) {
    int go[2], result[2];
    if (::pipe(go) != 0 || ::pipe(result) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(go[1]);
        ::close(result[0]);
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(2);
        ::_exit(body(result[1]));
    }
    ::close(go[0]);
    ::close(result[1]);
    return {pid, go[1], result[0]};
}

// ---- 1: connect loop ----------------------------------------------------------------------
struct ConnectTimes {
    double cpu_ns = 0;
    double wall_ns = 0;
    int allowed_errno = -1;    // errno of one connect to the allowed port after the loop (0 = ok)
    int forbidden_errno = -1;  // errno of one connect to a forbidden port
    bool ok = false;
};

ConnectTimes connect_loop(int iterations, sensors::Sensors* agent, bool watched) {
    ConnectTimes out;
    auto one = [](std::uint16_t port) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        const int err = rc == 0 ? 0 : errno;
        ::close(fd);
        return err;
    };
    Forked f = fork_waiting([&](int result_fd) {
        for (int i = 0; i < 1000; ++i) (void)one(kAllowedPort);  // warm up
        const std::uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
        for (int i = 0; i < iterations; ++i)
            if (one(kAllowedPort) != 0) return 3;
        const std::uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
        ConnectTimes t;
        t.cpu_ns = static_cast<double>(c1 - c0) / iterations;
        t.wall_ns = static_cast<double>(w1 - w0) / iterations;
        t.allowed_errno = one(kAllowedPort);
        t.forbidden_errno = one(kForbiddenPort);
        t.ok = true;
        return ::write(result_fd, &t, sizeof t) == static_cast<ssize_t>(sizeof t) ? 0 : 4;
    });
    if (f.pid <= 0) return out;
    if (agent && watched) {
        mw_task_state st{};
        st.workload_id = 1;
        if (!agent->mark_task(static_cast<std::uint32_t>(f.pid), st)) spdlog::error("bench: mark_task failed");
    }
    (void)::write(f.go, "g", 1);
    ConnectTimes t;
    const bool got = ::read(f.result, &t, sizeof t) == static_cast<ssize_t>(sizeof t);
    int status = 0;
    ::waitpid(f.pid, &status, 0);
    ::close(f.go);
    ::close(f.result);
    if (agent && watched) (void)agent->unmark_task(static_cast<std::uint32_t>(f.pid));
    if (got && WIFEXITED(status) && WEXITSTATUS(status) == 0) out = t;
    return out;
}

// ---- 2: exec -> exit or death --------------------------------------------------------------
struct ExecTimes {
    double ns = 0;        // median go -> waitpid per exec
    int last_status = 0;  // raw wait status of the last child
    bool ok = false;
};

ExecTimes exec_runs(int n, sensors::Sensors* agent, const char* binary) {
    ExecTimes out;
    std::vector<double> times;
    for (int i = 0; i < n; ++i) {
        Forked f = fork_waiting([&](int) {
            char* const argv[] = {const_cast<char*>(binary), nullptr};
            ::execv(binary, argv);
            return 127;
        });
        if (f.pid <= 0) return out;
        if (agent) {
            mw_task_state st{};
            st.workload_id = 1;
            (void)agent->mark_task(static_cast<std::uint32_t>(f.pid), st);
        }
        const std::uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        (void)::write(f.go, "g", 1);
        int status = 0;
        ::waitpid(f.pid, &status, 0);
        times.push_back(static_cast<double>(now_ns(CLOCK_MONOTONIC) - t0));
        ::close(f.go);
        ::close(f.result);
        out.last_status = status;
    }
    out.ns = median(times);
    out.ok = true;
    return out;
}

std::string ratio(double r) { return r > 0 ? fmt::format("{:.3f}x", r) : "n/a"; }

std::string spread(const std::vector<double>& v) {
    if (v.empty()) return "n/a";
    return fmt::format("{:.3f}..{:.3f}", *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    CLI::App app{"modelwarden enforcement benchmark (needs root)"};
    app.add_option("--rounds", opt.rounds, "Interleaved rounds");
    app.add_option("--connects", opt.connects, "connect()s per measurement");
    app.add_option("--execs", opt.execs, "execs per measurement");
    app.add_flag("--quick", opt.quick, "Correctness checks and one short round (smoke test)");
    CLI11_PARSE(app, argc, argv);
    if (opt.quick) {
        opt.rounds = 1;
        opt.connects = 2000;
        opt.execs = 20;
    }
    if (::geteuid() != 0) {
        fmt::print(stderr, "bench_enforcement: needs root (BPF, cgroup attach)\n");
        return 2;
    }
    spdlog::set_level(spdlog::level::warn);

    fmt::print("verification (exact effects, before measuring):\n");
    {
        auto agent = start_agent();
        if (!agent) return 1;
        auto w = connect_loop(100, agent.get(), true);
        check(w.ok && w.allowed_errno == 0 && w.forbidden_errno == EPERM,
              fmt::format("watched: 100 allowed UDP connects succeed, the forbidden one fails with {} (want EPERM)",
                          w.forbidden_errno >= 0 ? std::strerror(w.forbidden_errno) : "n/a"));
        auto u = connect_loop(100, agent.get(), false);
        check(u.ok && u.forbidden_errno == 0, "unwatched: the same forbidden connect succeeds");
        auto killed = exec_runs(3, agent.get(), "/usr/bin/false");
        check(killed.ok && WIFSIGNALED(killed.last_status) && WTERMSIG(killed.last_status) == SIGKILL,
              "watched: exec of /usr/bin/false (not allowed) dies of SIGKILL");
        auto allowed = exec_runs(3, agent.get(), "/usr/bin/true");
        check(allowed.ok && WIFEXITED(allowed.last_status) && WEXITSTATUS(allowed.last_status) == 0,
              "watched: exec of /usr/bin/true (allowed) exits 0");
    }

    std::vector<double> none_cpu, unw_ratio, wat_ratio, unw_cpu, wat_cpu;
    std::vector<double> exec_none, exec_allowed, exec_killed, false_none;
    fmt::print("\nmeasuring: {} rounds x ({} UDP connects, {} execs per configuration), order alternates\n", opt.rounds,
               opt.connects, opt.execs);
    for (int r = 0; r < opt.rounds; ++r) {
        ConnectTimes base, unw, wat;
        ExecTimes en, ef, ea, ek;
        auto run_none = [&] {
            base = connect_loop(opt.connects, nullptr, false);
            en = exec_runs(opt.execs, nullptr, "/usr/bin/true");
            ef = exec_runs(opt.execs, nullptr, "/usr/bin/false");
        };
        auto run_agent = [&] {
            auto agent = start_agent();
            if (!agent) return;
            unw = connect_loop(opt.connects, agent.get(), false);
            wat = connect_loop(opt.connects, agent.get(), true);
            ea = exec_runs(opt.execs, agent.get(), "/usr/bin/true");
            ek = exec_runs(opt.execs, agent.get(), "/usr/bin/false");
        };
        if (r % 2 == 0) {
            run_none();
            run_agent();
        } else {
            run_agent();
            run_none();
        }
        if (!base.ok || !unw.ok || !wat.ok || !en.ok || !ea.ok || !ek.ok || !ef.ok) {
            check(false, fmt::format("round {}: a measurement failed", r + 1));
            continue;
        }
        none_cpu.push_back(base.cpu_ns);
        unw_cpu.push_back(unw.cpu_ns);
        wat_cpu.push_back(wat.cpu_ns);
        unw_ratio.push_back(unw.cpu_ns / base.cpu_ns);
        wat_ratio.push_back(wat.cpu_ns / base.cpu_ns);
        exec_none.push_back(en.ns);
        false_none.push_back(ef.ns);
        exec_allowed.push_back(ea.ns);
        exec_killed.push_back(ek.ns);
        fmt::print("  round {} done\n", r + 1);
    }

    fmt::print("\n### UDP socket+connect+close loop to 127.0.0.1 (CPU ns per iteration, median of {} rounds; "
               "ratio = median of per-round ratios to the adjacent no-agent run)\n\n",
               opt.rounds);
    fmt::print("| process | none | modelwarden | target |\n|---|---|---|---|\n");
    fmt::print("| unwatched | {:.0f} ns | {:.0f} ns, **{}** | <= 1.02x |\n", median(none_cpu), median(unw_cpu),
               ratio(median(unw_ratio)));
    fmt::print("| watched, allowed egress | {:.0f} ns | {:.0f} ns, **{}** | <= 1.25x |\n", median(none_cpu),
               median(wat_cpu), ratio(median(wat_ratio)));
    fmt::print("per-round ratio range: unwatched {}, watched {}\n", spread(unw_ratio), spread(wat_ratio));

    fmt::print("\n### fork -> execve -> waitpid (wall us per exec, median of per-round medians)\n\n");
    fmt::print("| case | no agent | modelwarden |\n|---|---|---|\n");
    fmt::print("| /usr/bin/true, allowed: runs and exits | {:.0f} us | {:.0f} us |\n", median(exec_none) / 1e3,
               median(exec_allowed) / 1e3);
    fmt::print("| /usr/bin/false, forbidden: SIGKILL at sched_process_exec | {:.0f} us (runs) | {:.0f} us (killed) |\n",
               median(false_none) / 1e3, median(exec_killed) / 1e3);

    fmt::print("\n{}\n", g_failures == 0 ? "all checks passed" : fmt::format("{} check(s) FAILED", g_failures));
    return g_failures == 0 ? 0 : 1;
}
