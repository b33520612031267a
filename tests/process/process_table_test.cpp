// ProcessTable: ordering, pid reuse, late attribution, ancestry, reaping, cap, /proc loading.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "process/process_table.hpp"
#include "process/proc_reader.hpp"

using namespace mw;
using namespace std::string_view_literals;

namespace {

constexpr std::uint64_t kSec = 1'000'000'000ull;
constexpr std::uint64_t kTick = 10'000'000ull;

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/mw-process-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// A table that never touches the real /proc or cgroupfs: synthetic records only.
ProcessTableConfig synthetic(const TempDir& dir) {
    ProcessTableConfig c;
    c.proc_root = (dir.path / "proc").string();
    c.cgroup_root = (dir.path / "cgroup").string();
    c.host_boot_key = "machine:boot";
    std::filesystem::create_directories(c.proc_root);
    std::filesystem::create_directories(c.cgroup_root);
    return c;
}

ExecInfo exec_of(std::uint32_t pid, std::uint64_t start, std::uint32_t ppid, std::string_view exe,
                 std::string_view argv, std::uint64_t ts) {
    ExecInfo e;
    e.timestamp_ns = ts;
    e.pid = pid;
    e.start_time_ns = start;
    e.ppid = ppid;
    e.executable = exe;
    e.argv = argv;
    e.cwd = "/srv";
    e.comm = exe.substr(exe.rfind('/') + 1);
    e.uid = 1000;
    e.gid = 1001;
    return e;
}

ForkInfo fork_of(std::uint32_t parent, std::uint64_t parent_start, std::uint32_t child, std::uint64_t child_start,
                 std::uint64_t ts) {
    ForkInfo f;
    f.timestamp_ns = ts;
    f.parent_pid = parent;
    f.parent_start_time_ns = parent_start;
    f.child_pid = child;
    f.child_start_time_ns = child_start;
    f.uid = 1000;
    f.gid = 1001;
    f.workload_id = 7;
    return f;
}

// init(1) -> python(100) running serve.py; the usual base for these tests.
void seed(ProcessTable& t) {
    t.on_exec(exec_of(1, 1 * kSec, 0, "/sbin/init", "/sbin/init\0"sv, 1 * kSec));
    t.on_fork(fork_of(1, 1 * kSec, 100, 10 * kSec, 10 * kSec));
    t.on_exec(exec_of(100, 10 * kSec, 1, "/usr/bin/python3.11", "python3\0serve.py\0--port\0008080\0"sv, 10 * kSec));
}

}  // namespace

TEST_CASE("fork, exec, exit build the process and its chain", "[process][table]") {
    TempDir dir;
    ProcessTable t(synthetic(dir));
    seed(t);
    const Process* shell = t.on_fork(fork_of(100, 10 * kSec, 200, 20 * kSec, 20 * kSec));
    REQUIRE(shell != nullptr);
    // Before its exec the child is a copy of the parent image.
    CHECK(shell->executable == "/usr/bin/python3.11");
    CHECK(shell->ppid == 100);
    CHECK(shell->workload_id == 7);

    shell = t.on_exec(exec_of(200, 20 * kSec, 100, "/bin/sh", "sh\0-c\0id\0"sv, 20 * kSec + 5));
    REQUIRE(shell != nullptr);
    CHECK(shell->pid == 200);
    CHECK(shell->executable == "/bin/sh");
    CHECK(shell->name == "sh");
    CHECK(shell->args == std::vector<std::string>{"sh", "-c", "id"});
    CHECK(shell->cwd == "/srv");
    CHECK(shell->uid == 1000);
    CHECK(shell->gid == 1001);
    CHECK(shell->entity_id == EntityIdGenerator("machine:boot").make(200, 20 * kSec));
    CHECK(shell->entity_id.size() == 22);

    const Process* python = t.lookup(100);
    REQUIRE(python != nullptr);
    CHECK(python->args == std::vector<std::string>{"python3", "serve.py", "--port", "8080"});

    std::array<const Process*, 8> chain{};
    REQUIRE(t.ancestors(*shell, chain) == 2);
    CHECK(chain[0]->pid == 100);
    CHECK(chain[1]->pid == 1);
    CHECK(chain[0]->entity_id != chain[1]->entity_id);

    // The bound is honoured without allocation: a one-slot span gets the parent only.
    std::array<const Process*, 1> one{};
    CHECK(t.ancestors(*shell, one) == 1);
    CHECK(one[0]->pid == 100);

    const Process* gone = t.on_exit({21 * kSec, 200, 20 * kSec, 256});
    REQUIRE(gone != nullptr);
    CHECK(gone->exited);
    CHECK(gone->exit_code == 256);
    CHECK(gone->exit_time_ns == 21 * kSec);
    CHECK(t.size() == 3);
}

TEST_CASE("threads never create entries", "[process][table]") {
    TempDir dir;
    ProcessTable t(synthetic(dir));
    seed(t);
    const Process* p = t.on_fork(fork_of(100, 10 * kSec, 100, 10 * kSec, 11 * kSec));
    REQUIRE(p != nullptr);
    CHECK(p->pid == 100);
    CHECK(t.size() == 2);
    CHECK(t.stats().threads_ignored == 1);
}

TEST_CASE("pid reuse gives a new identity and keeps the old one resolvable", "[process][table]") {
    TempDir dir;
    ProcessTable t(synthetic(dir));
    seed(t);
    t.on_fork(fork_of(100, 10 * kSec, 300, 20 * kSec, 20 * kSec));
    t.on_exit({20 * kSec + 1000, 300, 20 * kSec, 0});
    const Process* second = t.on_fork(fork_of(100, 10 * kSec, 300, 25 * kSec, 25 * kSec));
    t.on_exec(exec_of(300, 25 * kSec, 100, "/usr/bin/curl", "curl\0"sv, 25 * kSec));
    REQUIRE(second != nullptr);
    const Process* first = t.lookup(300, 20 * kSec);
    REQUIRE(first != nullptr);
    CHECK(first->exited);
    CHECK(first->executable == "/usr/bin/python3.11");
    CHECK(t.lookup(300) == t.lookup(300, 25 * kSec));
    CHECK(t.lookup(300)->executable == "/usr/bin/curl");
    CHECK(first->entity_id != t.lookup(300)->entity_id);
    CHECK(t.stats().pid_reuse == 0);

    // A reused pid whose exit was never seen: the stale entry is marked exited and counted.
    t.on_fork(fork_of(100, 10 * kSec, 300, 27 * kSec, 27 * kSec));
    CHECK(t.stats().pid_reuse == 1);
    REQUIRE(t.lookup(300, 25 * kSec) != nullptr);
    CHECK(t.lookup(300, 25 * kSec)->exited);
    CHECK_FALSE(t.lookup(300)->exited);
}

TEST_CASE("short-lived processes stay attributable for the grace period, then are reaped", "[process][table]") {
    TempDir dir;
    auto cfg = synthetic(dir);
    cfg.exit_grace_ns = 30 * kSec;
    ProcessTable t(cfg);
    seed(t);
    // exec then exit within microseconds; the open record arrives after the exit.
    t.on_fork(fork_of(100, 10 * kSec, 400, 40 * kSec, 40 * kSec));
    t.on_exec(exec_of(400, 40 * kSec, 100, "/bin/cat", "cat\0/etc/shadow\0"sv, 40 * kSec + 2000));
    t.on_exit({40 * kSec + 9000, 400, 40 * kSec, 0});

    t.reap(69 * kSec);
    const Process* late = t.lookup(400, 40 * kSec);
    REQUIRE(late != nullptr);
    CHECK(late->executable == "/bin/cat");
    std::array<const Process*, 4> chain{};
    REQUIRE(t.ancestors(*late, chain) == 2);
    CHECK(chain[0]->pid == 100);

    t.reap(70 * kSec + 9000);
    CHECK(t.lookup(400, 40 * kSec) == nullptr);
    CHECK(t.lookup(400) == nullptr);
    CHECK(t.stats().reaped == 1);
    CHECK(t.size() == 2);
}

TEST_CASE("an exited parent lingers while its children are known", "[process][table]") {
    TempDir dir;
    auto cfg = synthetic(dir);
    cfg.exit_grace_ns = 5 * kSec;
    ProcessTable t(cfg);
    seed(t);
    t.on_fork(fork_of(100, 10 * kSec, 500, 50 * kSec, 50 * kSec));
    t.on_fork(fork_of(500, 50 * kSec, 501, 51 * kSec, 51 * kSec));
    t.on_exit({52 * kSec, 500, 50 * kSec, 0});  // double fork: the daemon's parent exits
    t.reap(100 * kSec);
    const Process* orphan = t.lookup(501);
    REQUIRE(orphan != nullptr);
    std::array<const Process*, 4> chain{};
    REQUIRE(t.ancestors(*orphan, chain) == 3);
    CHECK(chain[0]->pid == 500);
    CHECK(chain[0]->exited);
    CHECK(chain[1]->pid == 100);
    CHECK(chain[2]->pid == 1);

    t.on_exit({101 * kSec, 501, 51 * kSec, 0});
    t.reap(110 * kSec);
    CHECK(t.lookup(501) == nullptr);
    CHECK(t.lookup(500) == nullptr);
    CHECK(t.stats().reaped == 2);
    CHECK(t.size() == 2);
}

TEST_CASE("the table size is capped with counted eviction, exited entries first", "[process][table]") {
    TempDir dir;
    auto cfg = synthetic(dir);
    cfg.max_entries = 4;
    ProcessTable t(cfg);
    seed(t);
    t.on_fork(fork_of(100, 10 * kSec, 600, 60 * kSec, 60 * kSec));
    t.on_fork(fork_of(100, 10 * kSec, 601, 61 * kSec, 61 * kSec));
    t.on_exit({62 * kSec, 600, 60 * kSec, 0});
    CHECK(t.size() == 4);
    t.on_fork(fork_of(100, 10 * kSec, 602, 63 * kSec, 63 * kSec));
    CHECK(t.size() == 4);
    CHECK(t.stats().evicted_exited == 1);
    CHECK(t.stats().evicted_live == 0);
    CHECK(t.lookup(600) == nullptr);
    REQUIRE(t.lookup(602) != nullptr);

    t.on_fork(fork_of(100, 10 * kSec, 603, 64 * kSec, 64 * kSec));
    CHECK(t.size() == 4);
    CHECK(t.stats().evicted_live == 1);
    REQUIRE(t.lookup(603) != nullptr);
    CHECK(t.lookup(1) != nullptr);  // init is never the victim
}

TEST_CASE("cgroup ids resolve to paths under the cgroup root", "[process][cgroup]") {
    TempDir dir;
    auto cfg = synthetic(dir);
    std::filesystem::create_directories(std::filesystem::path(cfg.cgroup_root) / "system.slice" / "torchserve.service");
    struct stat st {};
    REQUIRE(::stat((std::filesystem::path(cfg.cgroup_root) / "system.slice" / "torchserve.service").c_str(), &st) == 0);
    ProcessTable t(cfg);
    auto e = exec_of(700, 70 * kSec, 0, "/usr/bin/python3", "python3\0"sv, 70 * kSec);
    e.cgroup_id = st.st_ino;
    const Process* p = t.on_exec(e);
    REQUIRE(p != nullptr);
    CHECK(p->cgroup_id == st.st_ino);
    CHECK(p->cgroup_path == "/system.slice/torchserve.service");

    CgroupPaths paths(cfg.cgroup_root);
    CHECK(paths.id_of("/system.slice/torchserve.service") == st.st_ino);
    CHECK(paths.id_of("/nope") == 0);
    CHECK(paths.resolve(st.st_ino) == "/system.slice/torchserve.service");
    CHECK(paths.resolve(1) == "");
}

TEST_CASE("the test's own process and a child are loaded from /proc", "[process][proc]") {
    ProcessTableConfig cfg;
    cfg.host_boot_key = "machine:boot";
    ProcessTable t(cfg);
    const Process* self = t.lookup_or_load(static_cast<std::uint32_t>(::getpid()));
    REQUIRE(self != nullptr);
    CHECK(self->pid == static_cast<std::uint32_t>(::getpid()));
    CHECK(self->ppid == static_cast<std::uint32_t>(::getppid()));
    CHECK(self->executable == std::filesystem::read_symlink("/proc/self/exe").string());
    CHECK(self->cwd == std::filesystem::current_path().string());
    CHECK(self->uid == ::getuid());
    CHECK(self->gid == ::getgid());
    REQUIRE_FALSE(self->args.empty());
    CHECK(self->args[0].find("test_process") != std::string::npos);
    std::ifstream cg("/proc/self/cgroup");
    std::string line, v2;
    while (std::getline(cg, line))
        if (line.rfind("0::", 0) == 0) v2 = line.substr(3);
    CHECK(self->cgroup_path == v2);
    CHECK(self->start_time_ns % 10'000'000ull == 0);

    std::array<const Process*, 64> chain{};
    std::size_t n = t.ancestors(*self, chain);
    REQUIRE(n >= 1);
    CHECK(chain[0]->pid == static_cast<std::uint32_t>(::getppid()));
    CHECK(chain[n - 1]->pid == 1);

    // A thread id resolves to its process and never becomes an entry.
    std::size_t before = t.size();
    std::atomic<std::uint32_t> live_tid{0};
    std::atomic<bool> stop{false};
    std::thread worker([&] {
        live_tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
        while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (live_tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(t.lookup_or_load(live_tid.load()) == self);
    stop = true;
    worker.join();
    CHECK(t.size() == before);

    pid_t child = 0;
    char a0[] = "/bin/sleep", a1[] = "30";
    char* argv[] = {a0, a1, nullptr};
    REQUIRE(::posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, environ) == 0);
    // Wait until the child's exec has finished: exe switches first, argv is set up after.
    for (int i = 0; i < 500; ++i) {
        std::error_code ec;
        auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(child) + "/exe", ec);
        std::ifstream cmd("/proc/" + std::to_string(child) + "/cmdline");
        std::string args((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
        if (!ec && exe.filename() == "sleep" && args.size() == sizeof("/bin/sleep") + sizeof("30")) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const Process* kid = t.lookup_or_load(static_cast<std::uint32_t>(child));
    REQUIRE(kid != nullptr);
    CHECK(kid->executable == "/usr/bin/sleep");
    CHECK(kid->args == std::vector<std::string>{"/bin/sleep", "30"});
    CHECK(kid->ppid == static_cast<std::uint32_t>(::getpid()));
    CHECK(kid->parent_start_time_ns == t.lookup(static_cast<std::uint32_t>(::getpid()))->start_time_ns);
    std::array<const Process*, 2> up{};
    REQUIRE(t.ancestors(*kid, up) == 2);
    CHECK(up[0]->pid == static_cast<std::uint32_t>(::getpid()));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);

    // Gone from /proc: loading fails cleanly, the known entry is still returned.
    CHECK(t.lookup_or_load(static_cast<std::uint32_t>(child)) == kid);
    CHECK(t.lookup_or_load(0x7ffffff0u) == nullptr);
    CHECK(t.stats().load_failures >= 1);
}

TEST_CASE("scan_proc loads every running process once", "[process][proc]") {
    ProcessTableConfig cfg;
    cfg.host_boot_key = "machine:boot";
    ProcessTable t(cfg);
    std::size_t loaded = t.scan_proc();
    CHECK(loaded == t.size());
    REQUIRE(t.lookup(static_cast<std::uint32_t>(::getpid())) != nullptr);
    REQUIRE(t.lookup(1) != nullptr);
    CHECK(t.scan_proc() == 0);  // everything already known
}
