// Syscall-loop overhead of seccomp learning and of an installed filter, as ratios against no
// instrumentation. Two loops: getppid() (nothing but syscall entry/exit, so every ns of hook
// or filter shows) and an inference-server mix (pread of weights, socket round trip, futex,
// epoll, mmap). Conditions are interleaved round by round so load drifts hit all alike; the
// figure per condition is the median over rounds, in CPU time of the loop.
#include "common/abi.hpp"
#include "seccomp/apply.hpp"
#include "seccomp/profile.hpp"
#include "sensors.hpp"
#include "syscalls/syscall_table.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace mw;

namespace {

int g_rounds = 7;
long g_getppid_calls = 1'000'000;
long g_mix_iterations = 100'000;

// The loop's own CPU time (user + kernel), not wall time: on a shared machine the child is
// descheduled for whole milliseconds, which says nothing about what a syscall costs.
double now_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

enum class Loop { Getppid, ServerMix };

// Per iteration: pread 4 KiB of "weights", a 256-byte request/response over a socketpair,
// a futex wake with no waiter, a non-blocking epoll_wait, a 64 KiB mmap/munmap: 7 syscalls
// that do real work, as a model server's request path does.
double loop_server_mix()
{
    char path[] = "/tmp/mw-bench-seccomp-XXXXXX";
    int file = ::mkstemp(path);
    if (file < 0) ::_exit(10);
    ::unlink(path);
    std::vector<char> block(1 << 20, 'w');
    if (::write(file, block.data(), block.size()) != static_cast<ssize_t>(block.size())) ::_exit(11);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) ::_exit(12);
    int ep = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) != 0) ::_exit(13);
    int futex_word = 0;
    char buf[4096];
    double start = now_ns();
    for (long i = 0; i < g_mix_iterations; ++i) {
        if (::pread(file, buf, sizeof buf, (i * 4096) & ((1 << 20) - 1)) != sizeof buf) ::_exit(14);
        if (::write(sv[0], buf, 256) != 256) ::_exit(15);
        epoll_event out{};
        if (::epoll_wait(ep, &out, 1, 0) != 1) ::_exit(16);
        if (::read(sv[1], buf, 256) != 256) ::_exit(17);
        ::syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
        void* m = ::mmap(nullptr, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) ::_exit(18);
        ::munmap(m, 65536);
    }
    return (now_ns() - start) / static_cast<double>(g_mix_iterations);
}

double loop_getppid()
{
    double start = now_ns();
    for (long i = 0; i < g_getppid_calls; ++i) ::syscall(SYS_getppid);
    return (now_ns() - start) / static_cast<double>(g_getppid_calls);
}

// Runs one loop in a fresh child (optionally filtered, optionally watched): ns per iteration.
double run_loop(Loop loop, sensors::Sensors* mark, const seccomp::Profile* filter)
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
        double per = loop == Loop::Getppid ? loop_getppid() : loop_server_mix();
        if (::write(result[1], &per, sizeof per) != sizeof per) ::_exit(4);
        ::_exit(0);
    }
    if (mark) {
        mw_task_state st{};
        st.workload_id = 3;
        if (!mark->mark_task(static_cast<std::uint32_t>(pid), st)) std::abort();
    }
    if (::write(gate[1], "g", 1) != 1) std::abort();
    double per = 0;
    if (::read(result[0], &per, sizeof per) != sizeof per) std::abort();
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (int fd : {gate[0], gate[1], result[0], result[1]}) ::close(fd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fmt::print(stderr, "bench: child failed (status {:#x})\n", status);
        std::exit(1);
    }
    return per;
}

std::optional<sensors::Sensors> load(bool learn, bool violations)
{
    auto s = sensors::Sensors::open();
    if (!s) return std::nullopt;
    sensors::SensorConfig config;
    config.learn_syscalls = learn;
    config.seccomp_violations = violations;
    config.ring_buffer_bytes = 1u << 20;
    // Not what is measured here, and its fexit hooks fail the load where tracing attach is refused.
    config.open_cache = false;
    if (!s->configure(config) || !s->load() || !s->attach()) return std::nullopt;
    return std::move(s).value();
}

seccomp::Profile profile_from(const std::vector<std::string>& names)
{
    seccomp::LearnedSet set;
    set.workload = "bench";
    set.architecture = std::string(syscall_arch_name());
    for (const auto& n : names)
        if (syscall_number(n)) set.syscalls.insert(n);
    auto generated = seccomp::generate_profile(set, {});
    if (!generated) {
        fmt::print(stderr, "{}\n", generated.error().message);
        std::exit(1);
    }
    return generated->profile;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Condition {
    std::string name;
    std::function<double(Loop)> run;   // one measurement
};

}  // namespace

int main(int argc, char** argv)
{
    spdlog::set_level(spdlog::level::warn);
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        long v = std::atol(argv[i + 1]);
        if (k == "--rounds" && v > 0) g_rounds = static_cast<int>(v);
        else if (k == "--getppid-calls" && v > 0) g_getppid_calls = v;
        else if (k == "--mix-iterations" && v > 0) g_mix_iterations = v;
        else {
            fmt::print(stderr, "usage: bench_seccomp [--rounds N] [--getppid-calls N] [--mix-iterations N]\n");
            return 2;
        }
    }
    // The largest profile the generator makes (every syscall of the table but the dangerous
    // ones) and a learned-size one: what a python3-torch server really uses (~100 syscalls).
    std::vector<std::string> every;
    for (const auto& e : syscall_table()) every.emplace_back(e.name);
    const auto full = profile_from(every);
    const std::vector<std::string> torch_server = {
        "read", "write", "openat", "close", "fstat", "newfstatat", "lseek", "mmap", "mprotect", "munmap", "brk",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl", "pread64", "pwrite64", "readv", "writev", "access",
        "pipe2", "select", "sched_yield", "mremap", "madvise", "dup", "dup2", "dup3", "getpid", "sendfile", "socket",
        "connect", "accept", "accept4", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind", "listen",
        "getsockname", "getpeername", "socketpair", "setsockopt", "getsockopt", "clone", "clone3", "wait4", "kill",
        "uname", "fcntl", "flock", "fsync", "ftruncate", "getdents64", "getcwd", "chdir", "rename", "mkdir", "rmdir",
        "unlink", "readlink", "chmod", "umask", "gettimeofday", "getrlimit", "getrusage", "sysinfo", "getuid",
        "getgid", "geteuid", "getegid", "getppid", "getpgrp", "setsid", "sigaltstack", "statfs", "fstatfs",
        "prctl", "arch_prctl", "gettid", "futex", "sched_getaffinity", "sched_setaffinity", "set_tid_address",
        "clock_gettime", "clock_getres", "clock_nanosleep", "exit_group", "epoll_wait", "epoll_ctl", "tgkill",
        "openat", "epoll_create1", "eventfd2", "prlimit64", "getrandom", "memfd_create", "statx", "rseq",
        "set_robust_list", "get_robust_list", "poll", "ppoll", "pselect6", "nanosleep", "exit", "restart_syscall",
        "sched_getparam", "sched_getscheduler", "getpriority", "mlock", "munlock", "shmget", "shmat", "shmctl"};
    const auto learned = profile_from(torch_server);
    auto count = [](const seccomp::Profile& p) {
        std::size_t n = 0;
        for (const auto& r : p.syscalls) n += r.names.size();
        return n;
    };

    const bool root = ::geteuid() == 0;
    std::vector<Condition> conditions;
    conditions.push_back({"none", [](Loop l) { return run_loop(l, nullptr, nullptr); }});
    conditions.push_back({fmt::format("filter, learned-size ({} rules)", count(learned)),
                          [&](Loop l) { return run_loop(l, nullptr, &learned); }});
    conditions.push_back({fmt::format("filter, largest ({} rules)", count(full)),
                          [&](Loop l) { return run_loop(l, nullptr, &full); }});
    if (root) {
        // The agent's own skeleton already enables the syscall tracepoints, and with them the
        // kernel's slow syscall path for every task: the baseline learning is added to.
        auto with = [](bool learn, bool violations, bool watched, const seccomp::Profile* filter) {
            return [=](Loop l) {
                auto s = load(learn, violations);
                if (!s) {
                    fmt::print(stderr, "bench: cannot load the sensors\n");
                    std::exit(1);
                }
                return run_loop(l, watched ? &*s : nullptr, filter);
            };
        };
        conditions.push_back({"agent sensors, watched (no seccomp progs)", with(false, false, true, nullptr)});
        conditions.push_back({"learning, watched task", with(true, false, true, nullptr)});
        conditions.push_back({"learning, unwatched task", with(true, false, false, nullptr)});
        conditions.push_back({"learned filter + violation reports, watched", with(false, true, true, &learned)});
    }

    for (Loop loop : {Loop::Getppid, Loop::ServerMix}) {
        std::map<std::string, std::vector<double>> samples;
        for (int r = 0; r < g_rounds; ++r)
            for (const auto& c : conditions) samples[c.name].push_back(c.run(loop));
        const double none = median(samples["none"]);
        const std::string agent_name = "agent sensors, watched (no seccomp progs)";
        const double agent = root ? median(samples[agent_name]) : 0;
        fmt::print("{}: median of {} interleaved rounds, ns per {}\n",
                   loop == Loop::Getppid ? fmt::format("getppid x {}", g_getppid_calls)
                                         : fmt::format("server mix (7 syscalls) x {}", g_mix_iterations),
                   g_rounds, loop == Loop::Getppid ? "call" : "iteration");
        for (const auto& c : conditions) {
            const double m = median(samples[c.name]);
            std::string vs_agent;
            if (root && c.name.rfind("learning", 0) == 0) vs_agent = fmt::format("  ({:.3f}x the agent sensors)", m / agent);
            fmt::print("  {:<46} {:>9.1f} ns  {:.3f}x{}\n", c.name, m, m / none, vs_agent);
        }
    }
    if (!root) fmt::print("learning and violation reports: not measured (loading BPF programs needs root)\n");
    return 0;
}
