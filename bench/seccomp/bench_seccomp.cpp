// Syscall-loop overhead: getppid() N times in a fresh child, per condition, best of 3 runs.
// Conditions: none; learning on (child watched, program sets its bit); learning on but the
// child unwatched (what every other process on the host pays); a learned filter installed
// (binary tree over every non-dangerous syscall, the largest profile); filter plus violation
// reporting (raw_tp sys_enter/sys_exit pairing for the watched, filtered child).
#include "common/abi.hpp"
#include "seccomp/apply.hpp"
#include "seccomp/profile.hpp"
#include "sensors.hpp"
#include "syscalls/syscall_table.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

using namespace mw;

namespace {

constexpr long kCalls = 2'000'000;

double now_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Runs the loop in a child (optionally filtered, optionally watched); returns ns per call.
double run_loop(sensors::Sensors* mark, const seccomp::Profile* filter)
{
    int gate[2], result[2];
    if (::pipe(gate) != 0 || ::pipe(result) != 0) std::abort();
    pid_t pid = ::fork();
    if (pid == 0) {
        char c;
        if (::read(gate[0], &c, 1) != 1) ::_exit(1);
        if (filter) {
            if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(2);
            if (!seccomp::install_filter(*filter, nullptr)) ::_exit(3);
        }
        double start = now_ns();
        for (long i = 0; i < kCalls; ++i) ::syscall(SYS_getppid);
        double per_call = (now_ns() - start) / kCalls;
        if (::write(result[1], &per_call, sizeof per_call) != sizeof per_call) ::_exit(4);
        ::_exit(0);
    }
    if (mark) {
        mw_task_state st{};
        st.workload_id = 3;
        if (!mark->mark_task(static_cast<std::uint32_t>(pid), st)) std::abort();
    }
    if (::write(gate[1], "g", 1) != 1) std::abort();
    double per_call = 0;
    if (::read(result[0], &per_call, sizeof per_call) != sizeof per_call) std::abort();
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (int fd : {gate[0], gate[1], result[0], result[1]}) ::close(fd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fmt::print(stderr, "bench: child failed (status {:#x})\n", status);
        std::exit(1);
    }
    return per_call;
}

double best_of_3(sensors::Sensors* mark, const seccomp::Profile* filter)
{
    double best = 1e18;
    for (int i = 0; i < 3; ++i) best = std::min(best, run_loop(mark, filter));
    return best;
}

std::optional<sensors::Sensors> load(bool learn, bool violations)
{
    auto s = sensors::Sensors::open();
    if (!s) return std::nullopt;
    sensors::SensorConfig config;
    config.learn_syscalls = learn;
    config.seccomp_violations = violations;
    config.ring_buffer_bytes = 1u << 20;
    if (!s->configure(config) || !s->load() || !s->attach()) return std::nullopt;
    return std::move(s).value();
}

}  // namespace

int main()
{
    spdlog::set_level(spdlog::level::warn);
    seccomp::LearnedSet all;
    all.workload = "bench";
    all.architecture = std::string(syscall_arch_name());
    for (const auto& e : syscall_table()) all.syscalls.emplace(e.name);
    auto generated = seccomp::generate_profile(all, {});
    if (!generated) {
        fmt::print(stderr, "{}\n", generated.error().message);
        return 1;
    }
    const auto& profile = generated->profile;
    std::size_t allowed = profile.syscalls.empty() ? 0 : profile.syscalls[0].names.size();

    double none = best_of_3(nullptr, nullptr);
    double filtered = best_of_3(nullptr, &profile);
    fmt::print("getppid x {}, best of 3, ns per call\n", kCalls);
    fmt::print("{:<44} {:>8.1f} ns  1.00x\n", "none", none);
    fmt::print("{:<44} {:>8.1f} ns  {:.2f}x\n", fmt::format("filter ({} syscalls, binary tree)", allowed), filtered,
               filtered / none);
    if (::geteuid() != 0) {
        fmt::print("learning: not measured (needs root to load the BPF programs)\n");
        return 0;
    }
    double agent = 0;
    {
        // The agent's own sensors already enable the syscall tracepoints (and with them the
        // kernel's slow syscall path for every task): the baseline learning is added to.
        auto s = load(false, false);
        if (!s) return 1;
        agent = best_of_3(&*s, nullptr);
        fmt::print("{:<44} {:>8.1f} ns  {:.2f}x\n", "agent sensors, watched task (no seccomp progs)", agent,
                   agent / none);
    }
    {
        auto s = load(true, false);
        if (!s) return 1;
        double watched = best_of_3(&*s, nullptr);
        double unwatched = best_of_3(nullptr, nullptr);
        fmt::print("{:<44} {:>8.1f} ns  {:.2f}x  ({:.2f}x the agent without learning)\n", "learning, watched task",
                   watched, watched / none, watched / agent);
        fmt::print("{:<44} {:>8.1f} ns  {:.2f}x\n", "learning on, unwatched task", unwatched, unwatched / none);
    }
    {
        auto s = load(false, true);
        if (!s) return 1;
        double reported = best_of_3(&*s, &profile);
        fmt::print("{:<44} {:>8.1f} ns  {:.2f}x\n", "filter + violation reporting, watched task", reported,
                   reported / none);
    }
    return 0;
}
