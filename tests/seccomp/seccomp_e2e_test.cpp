// e2e (root, live kernel): learn a real PyTorch server's syscalls, generate its profile, run
// the same server under `exec --seccomp` (it must answer), then payload syscalls under the
// profile: EPERM (errno) or SIGSYS (kill_process), each one MW_EVENT_SECCOMP record.
#include "common/abi.hpp"
#include "ring_buffer.hpp"
#include "seccomp/apply.hpp"
#include "seccomp/learn.hpp"
#include "seccomp/profile.hpp"
#include "sensors.hpp"
#include "syscalls/syscall_table.hpp"
#include "agent_harness.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace mw::seccomp;
using mw::test::free_loopback_port;
using mw::test::kSystemPython;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    fs::path dir;
    fs::path checkpoint;
    Fixture()
    {
        dir = fs::temp_directory_path() / fmt::format("mw-seccomp-e2e-{}", ::getpid());
        fs::remove_all(dir);
        fs::create_directories(dir);
        auto cmd = fmt::format("{} {}/make_checkpoints.py {} >/dev/null", kSystemPython, MW_WORKLOADS_DIR, dir.string());
        if (std::system(cmd.c_str()) != 0) FAIL("cannot make checkpoints: " << cmd);
        checkpoint = dir / "good.pt";
    }
    ~Fixture() { fs::remove_all(dir); }
};

Fixture& fixture()
{
    static Fixture f;
    return f;
}

// One POST to the server once it listens; bounded to 120 s of retries (torch import is slow).
std::string request_once(std::uint16_t port)
{
    for (int attempt = 0; attempt < 1200; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
            std::string req = "POST / HTTP/1.0\r\nContent-Length: 9\r\n\r\n[1,2,3,4]";
            if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
                ::close(fd);
                return "write failed";
            }
            std::string out;
            char buf[4096];
            ssize_t n;
            while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
            ::close(fd);
            return out;
        }
        ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "server never listened";
}

std::vector<std::string> server_argv(std::uint16_t port)
{
    return {kSystemPython, std::string(MW_WORKLOADS_DIR) + "/model_server.py", "--model", fixture().checkpoint.string(),
            "--port", std::to_string(port), "--requests", "1"};
}

// Learned twice (merged, as across runs), generated once per action; cached per process.
const LearnedSet& learned_server()
{
    static LearnedSet set = [] {
        auto store = fixture().dir / "learned";
        for (int run = 0; run < 2; ++run) {
            auto port = free_loopback_port();
            std::string reply;
            std::thread client([&] { reply = request_once(port); });
            auto learned = learn_command("torch-server", server_argv(port));
            client.join();
            if (!learned) FAIL("learn: " << learned.error().message);
            INFO("reply: " << reply);
            REQUIRE(WIFEXITED(learned->wait_status));
            REQUIRE(WEXITSTATUS(learned->wait_status) == 0);
            REQUIRE(reply.find("\"prediction\"") != std::string::npos);
            REQUIRE(store_learned(store, learned->learned));
        }
        auto merged = load_learned(store / "torch-server.json");
        if (!merged) FAIL(merged.error().message);
        return std::move(merged).value();
    }();
    return set;
}

fs::path profile_for(Action action)
{
    GenerateOptions o;
    o.action = action;
    auto g = generate_profile(learned_server(), o);
    if (!g) FAIL(g.error().message);
    auto path = fixture().dir / fmt::format("profile-{}.json", static_cast<int>(action));
    std::ofstream(path) << profile_to_json(g->profile);
    return path;
}

// Forks a child that waits for the gate, then execs argv under the profile.
pid_t spawn_confined(const fs::path& profile, const std::vector<std::string>& argv, mw::sensors::Sensors* mark,
                     const std::string& cgroup = "")
{
    int gate[2];
    REQUIRE(::pipe(gate) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(gate[1]);
        char c;
        if (::read(gate[0], &c, 1) != 1) ::_exit(99);
        auto failed = exec_confined(ExecOptions{profile.string(), cgroup, argv, "", ""});
        fprintf(stderr, "%s\n", failed.error().message.c_str());
        ::_exit(126);
    }
    ::close(gate[0]);
    if (mark) {
        mw_task_state st{};
        st.workload_id = 5;
        REQUIRE(mark->mark_task(static_cast<std::uint32_t>(pid), st));
    }
    REQUIRE(::write(gate[1], "g", 1) == 1);
    ::close(gate[1]);
    return pid;
}

struct Violations {
    boost::asio::io_context io;
    mw::sensors::Sensors sensors;
    std::unique_ptr<mw::sensors::RingBufferReader> reader;
    std::vector<mw_seccomp_event> records;
    explicit Violations(mw::sensors::Sensors s) : sensors(std::move(s)) {}
};

std::unique_ptr<Violations> open_violations()
{
    auto s = mw::sensors::Sensors::open();
    if (!s) FAIL("open: " << s.error().message);
    mw::sensors::SensorConfig config;
    config.seccomp_violations = true;
    if (auto r = s->configure(config); !r) FAIL("configure: " << r.error().message);
    if (auto r = s->load(); !r) FAIL("load: " << r.error().message);
    if (auto r = s->attach(); !r) FAIL("attach: " << r.error().message);
    auto v = std::make_unique<Violations>(std::move(s).value());
    auto reader = mw::sensors::RingBufferReader::create(v->io, v->sensors.events_map_fd(),
                                                        [raw = v.get()](std::span<const std::byte> rec) {
                                                            if (rec.size() < sizeof(mw_seccomp_event)) return;
                                                            auto* h = reinterpret_cast<const mw_event_header*>(rec.data());
                                                            if (h->type != MW_EVENT_SECCOMP) return;
                                                            mw_seccomp_event ev;
                                                            std::memcpy(&ev, rec.data(), sizeof ev);
                                                            raw->records.push_back(ev);
                                                        });
    if (!reader) FAIL("reader: " << reader.error().message);
    v->reader = std::move(reader).value();
    return v;
}

std::string describe(const std::vector<mw_seccomp_event>& records)
{
    std::string out;
    for (const auto& r : records)
        out += fmt::format("{}(pid {}, action {}, result {}, arg0 {}) ", mw::syscall_name(r.syscall_nr), r.hdr.pid,
                           r.action, r.result, r.args[0]);
    return out;
}

}  // namespace

TEST_CASE("learned set of a real PyTorch server: its syscalls, not the launcher's execve", "[seccomp][e2e]")
{
    REQUIRE(::geteuid() == 0);
    const auto& set = learned_server();
    INFO("learned: " << set.syscalls.size());
    CHECK(set.runs == 2);
    for (auto name : {"openat", "mmap", "read", "socket", "bind", "listen", "accept4", "sendto", "futex", "exit_group"})
        CHECK(set.syscalls.count(name) == 1);
    CHECK(set.syscalls.count("execve") == 0);  // the launcher's own exec is skipped in the kernel
    CHECK(set.syscalls.count("ptrace") == 0);
}

TEST_CASE("the same server runs unchanged under its profile, in its own cgroup", "[seccomp][e2e]")
{
    REQUIRE(::geteuid() == 0);
    auto profile = profile_for(Action::Errno);
    auto port = free_loopback_port();
    std::string reply;
    std::thread client([&] { reply = request_once(port); });
    pid_t pid = spawn_confined(profile, server_argv(port), nullptr, "seccomp-e2e");
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    client.join();
    INFO("reply: " << reply);
    CHECK(reply.rfind("HTTP/1.0 200", 0) == 0);
    CHECK(reply.find("\"prediction\"") != std::string::npos);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    auto mount = find_cgroup2_mount();
    REQUIRE(mount);
    CHECK(fs::is_directory(*mount + "/modelwarden/seccomp-e2e"));
}

TEST_CASE("payload under the errno profile: execve, ptrace, AF_PACKET fail with EPERM, one record each", "[seccomp][e2e]")
{
    REQUIRE(::geteuid() == 0);
    auto profile = profile_for(Action::Errno);
    auto v = open_violations();
    pid_t pid = spawn_confined(profile, {kSystemPython, std::string(MW_SECCOMP_TEST_DIR) + "/payload.py"}, &v->sensors);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(v->reader->drain());
    std::vector<mw_seccomp_event> mine;
    for (const auto& r : v->records)
        if (r.hdr.pid == static_cast<std::uint32_t>(pid)) mine.push_back(r);
    INFO("records: " << describe(mine));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // the payload saw EPERM three times
    REQUIRE(mine.size() == 3);
    CHECK(mw::syscall_name(mine[0].syscall_nr) == "execve");
    CHECK(mw::syscall_name(mine[1].syscall_nr) == "ptrace");
    CHECK(mine[1].args[0] == 0);  // PTRACE_TRACEME
    CHECK(mw::syscall_name(mine[2].syscall_nr) == "socket");
    CHECK(mine[2].args[0] == 17);  // AF_PACKET
    for (const auto& r : mine) {
        CHECK(r.action == MW_SECCOMP_ERRNO);
        CHECK(r.result == -EPERM);
        CHECK(r.hdr.workload_id == 5);
    }
}

TEST_CASE("payload under the kill_process profile dies with SIGSYS, one kill record", "[seccomp][e2e]")
{
    REQUIRE(::geteuid() == 0);
    auto profile = profile_for(Action::KillProcess);
    auto v = open_violations();
    pid_t pid = spawn_confined(profile, {kSystemPython, std::string(MW_SECCOMP_TEST_DIR) + "/payload.py"}, &v->sensors);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(v->reader->drain());
    std::vector<mw_seccomp_event> mine;
    for (const auto& r : v->records)
        if (r.hdr.pid == static_cast<std::uint32_t>(pid)) mine.push_back(r);
    INFO("records: " << describe(mine));
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGSYS);
    REQUIRE(mine.size() == 1);
    CHECK(mw::syscall_name(mine[0].syscall_nr) == "execve");  // the payload's first move
    CHECK(mine[0].action == MW_SECCOMP_KILL);
}

TEST_CASE("generated filter: clone(CLONE_NEWUSER) is EPERM and clone3 ENOSYS while fork and threads still work", "[seccomp][e2e]")
{
    // Every syscall of the table learned: only the generator's own clone rules differ from allow-all.
    LearnedSet every;
    every.workload = "clone-test";
    every.architecture = std::string(mw::syscall_arch_name());
    for (const auto& e : mw::syscall_table()) every.syscalls.emplace(e.name);
    auto g = generate_profile(every, {});
    REQUIRE(g);
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        long results[4] = {-1, -1, -1, -1};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || !install_filter(g->profile, nullptr)) ::_exit(3);
        long r = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) ::_exit(0);
        results[0] = r < 0 ? errno : 0;
        clone_args args{};
        args.exit_signal = SIGCHLD;
        r = ::syscall(SYS_clone3, &args, sizeof args);
        if (r == 0) ::_exit(0);
        results[1] = r < 0 ? errno : 0;
        pid_t child = ::fork();  // glibc: the clone syscall, no CLONE_NEWUSER
        if (child == 0) ::_exit(7);
        int st = 0;
        results[2] = child > 0 && ::waitpid(child, &st, 0) == child && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        int ran = 0;
        std::thread t([&] { ran = 1; });  // glibc tries clone3, gets ENOSYS, falls back to clone
        t.join();
        results[3] = ran;
        if (::write(out[1], results, sizeof results) != sizeof results) ::_exit(4);
        ::_exit(0);
    }
    ::close(out[1]);
    long results[4] = {0, 0, 0, 0};
    REQUIRE(::read(out[0], results, sizeof results) == sizeof results);
    ::close(out[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(results[0] == EPERM);
    CHECK(results[1] == ENOSYS);
    CHECK(results[2] == 7);
    CHECK(results[3] == 1);
}

namespace {

// A child driven step by step over two pipes: each byte from the parent runs one step.
struct SteppedChild {
    pid_t pid = -1;
    int to_child = -1;
    int from_child = -1;

    template <class Steps>
    explicit SteppedChild(Steps steps)
    {
        int down[2], up[2];
        REQUIRE(::pipe(down) == 0);
        REQUIRE(::pipe(up) == 0);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(down[1]);
            ::close(up[0]);
            char c;
            for (int i = 0; ::read(down[0], &c, 1) == 1; ++i) {
                steps(i);
                if (::write(up[1], "d", 1) != 1) ::_exit(98);
            }
            ::_exit(0);
        }
        ::close(down[0]);
        ::close(up[1]);
        to_child = down[1];
        from_child = up[0];
    }
    void step()
    {
        REQUIRE(::write(to_child, "s", 1) == 1);
        char c;
        REQUIRE(::read(from_child, &c, 1) == 1);
    }
    int finish()
    {
        ::close(to_child);
        ::close(from_child);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        return status;
    }
};

mw::sensors::Sensors learning_sensors()
{
    auto s = mw::sensors::Sensors::open();
    if (!s) FAIL("open: " << s.error().message);
    mw::sensors::SensorConfig config;
    config.learn_syscalls = true;
    config.ring_buffer_bytes = 256 * 1024;
    if (auto r = s->configure(config); !r) FAIL("configure: " << r.error().message);
    if (auto r = s->load(); !r) FAIL("load: " << r.error().message);
    if (auto r = s->attach(); !r) FAIL("attach: " << r.error().message);
    return std::move(s).value();
}

bool has_bit(const mw_syscall_bitmap& b, long nr) { return (b.words[nr / 64] >> (nr % 64)) & 1; }

}  // namespace

TEST_CASE("a pending process's syscalls join its workload's set when user space confirms it", "[seccomp][e2e]")
{
    REQUIRE(::geteuid() == 0);
    auto sensors = learning_sensors();
    constexpr std::uint32_t kWorkload = 7;
    REQUIRE(sensors.clear_syscall_bitmap(kWorkload));
    // sysinfo only while pending, getcpu only once confirmed: neither is in the parent's path.
    SteppedChild child([](int step) {
        char info[512];  // >= sizeof(struct sysinfo)
        unsigned cpu = 0;
        if (step == 0) ::syscall(SYS_sysinfo, info);
        if (step == 1) ::syscall(SYS_getcpu, &cpu, nullptr, nullptr);
    });
    REQUIRE(sensors.mark_task(static_cast<std::uint32_t>(child.pid), mw_task_state{MW_WORKLOAD_PENDING, 0}));
    // The learning program's per-CPU "unwatched" memo lives for one tick: let it expire.
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    child.step();

    auto before = sensors.read_syscall_bitmap(kWorkload);
    REQUIRE(before);
    CHECK_FALSE(has_bit(*before, SYS_sysinfo));  // not this workload's until confirmed
    auto pending = sensors.pending_syscall_entries();
    REQUIRE(pending);
    CHECK(*pending == 1);

    REQUIRE(sensors.mark_task(static_cast<std::uint32_t>(child.pid), mw_task_state{kWorkload, 0}));
    pending = sensors.pending_syscall_entries();
    REQUIRE(pending);
    CHECK(*pending == 0);  // moved, not copied
    child.step();
    CHECK(child.finish() == 0);

    auto after = sensors.read_syscall_bitmap(kWorkload);
    REQUIRE(after);
    CHECK(has_bit(*after, SYS_sysinfo));  // made while pending
    CHECK(has_bit(*after, SYS_read));     // the pipe reads, before and after
    CHECK(has_bit(*after, SYS_getcpu));   // made once confirmed
    CHECK_FALSE(has_bit(*after, SYS_execve));

    // A clear forgets the early bits too.
    REQUIRE(sensors.clear_syscall_bitmap(kWorkload));
    auto cleared = sensors.read_syscall_bitmap(kWorkload);
    REQUIRE(cleared);
    CHECK_FALSE(has_bit(*cleared, SYS_sysinfo));
}

TEST_CASE("a pending process user space drops takes its syscalls with it", "[seccomp][e2e]")
{
    REQUIRE(::geteuid() == 0);
    auto sensors = learning_sensors();
    constexpr std::uint32_t kWorkload = 8;
    REQUIRE(sensors.clear_syscall_bitmap(kWorkload));
    SteppedChild child([](int step) {
        char info[512];
        if (step == 0) ::syscall(SYS_sysinfo, info);
    });
    REQUIRE(sensors.mark_task(static_cast<std::uint32_t>(child.pid), mw_task_state{MW_WORKLOAD_PENDING, 0}));
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    child.step();
    auto pending = sensors.pending_syscall_entries();
    REQUIRE(pending);
    CHECK(*pending == 1);
    REQUIRE(sensors.unmark_task(static_cast<std::uint32_t>(child.pid)));
    pending = sensors.pending_syscall_entries();
    REQUIRE(pending);
    CHECK(*pending == 0);
    // Confirmed only after it was dropped: what it did while pending is gone, not merged.
    REQUIRE(sensors.mark_task(static_cast<std::uint32_t>(child.pid), mw_task_state{kWorkload, 0}));
    CHECK(child.finish() == 0);
    auto bitmap = sensors.read_syscall_bitmap(kWorkload);
    REQUIRE(bitmap);
    CHECK_FALSE(has_bit(*bitmap, SYS_sysinfo));
}
