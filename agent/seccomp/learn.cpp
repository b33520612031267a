// `seccomp learn`: a private skeleton with the learning program on, one watched child.
#include "seccomp/learn.hpp"

#include "common/abi.hpp"  // before sensors.hpp: the ABI once, with its pedantic guard
#include "seccomp/apply.hpp"
#include "sensors.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace mw::seccomp {
namespace {

Error sys_error(const std::string& what, int err)
{
    return make_error(fmt::format("seccomp: {}: {}", what, std::strerror(err)), err);
}

}  // namespace

Result<LearnRun> learn_command(const std::string& workload, const std::vector<std::string>& argv)
{
    if (auto ok = check_workload_name(workload); !ok) return ok.error();
    if (argv.empty()) return make_error("seccomp: learn needs a command", EINVAL);
    auto exe = resolve_executable(argv[0]);
    if (!exe) return exe.error();

    auto opened = sensors::Sensors::open();
    if (!opened) return opened.error();
    auto sensors = std::move(opened).value();
    sensors::SensorConfig config;
    config.learn_syscalls = true;
    config.seccomp_violations = false;
    config.ring_buffer_bytes = 256 * 1024;  // nobody reads it here: other records are dropped
    if (auto ok = sensors.configure(config); !ok) return ok.error();
    if (auto ok = sensors.load(); !ok) return ok.error();
    if (auto ok = sensors.attach(); !ok) return ok.error();
    if (auto ok = sensors.clear_syscall_bitmap(kLearnWorkloadId); !ok) return ok.error();

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const char* path = exe->c_str();

    // The child waits until it is marked, so its first instruction after execve (the
    // dynamic loader's) is already learned.
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) return sys_error("cannot create a pipe", errno);
    pid_t child = ::fork();
    if (child < 0) {
        int err = errno;
        ::close(gate[0]);
        ::close(gate[1]);
        return sys_error("cannot fork", err);
    }
    if (child == 0) {
        ::close(gate[1]);
        char go = 0;
        if (::read(gate[0], &go, 1) != 1 || go != 'g') ::_exit(126);
        ::execve(path, args.data(), environ);
        ::_exit(127);
    }
    ::close(gate[0]);
    mw_task_state state{};
    state.workload_id = kLearnWorkloadId;
    state.flags = MW_TASK_SKIP_FIRST_EXEC;
    auto marked = sensors.mark_task(static_cast<std::uint32_t>(child), state);
    // The learning program memoises "this process is unwatched" per CPU for one kernel
    // tick; the child's syscalls before the mark may sit in that memo. Past one tick
    // (HZ >= 100) its execve is seen, and with it MW_TASK_SKIP_FIRST_EXEC is consumed.
    if (marked) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    char go = marked ? 'g' : 'x';
    [[maybe_unused]] auto w = ::write(gate[1], &go, 1);
    ::close(gate[1]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!marked) return marked.error();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        spdlog::warn("seccomp: {} exited with 127: it may not have started", *exe);

    auto bitmap = sensors.read_syscall_bitmap(kLearnWorkloadId);
    if (!bitmap) return bitmap.error();
    auto learned = learned_from_bitmap(workload, *bitmap);
    if (!learned) return learned.error();
    return LearnRun{std::move(learned).value(), status};
}

Result<void> dump_learned_sets(sensors::Sensors& sensors, const std::vector<std::string>& names, const std::string& dir)
{
    for (std::uint32_t id = 0; id < names.size() && id < MW_MAX_WORKLOADS; ++id) {
        if (names[id].empty()) continue;
        auto bitmap = sensors.read_syscall_bitmap(id);
        if (!bitmap) return bitmap.error();
        bool any = false;
        for (auto w : bitmap->words) any = any || w != 0;
        if (!any) continue;
        auto learned = learned_from_bitmap(names[id], *bitmap);
        if (!learned) return learned.error();
        learned->runs = 0;  // a dump is part of a run, not a run of its own
        // Not cleared: clearing would race with bits set meanwhile, and a merge is a union.
        if (auto stored = store_learned(dir, *learned); !stored) return stored.error();
    }
    return {};
}

}  // namespace mw::seccomp
