// fanotify deny fallback, unit level (no root): which paths a policy marks, the coverage lines
// it reports, the per-open decision, and the open flags read from a blocked thread.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "enforcement/fanotify_deny.hpp"

using namespace mw;
using namespace mw::enforcement;
namespace fs = std::filesystem;

namespace {

struct Tree {
    fs::path root;
    Tree() {
        char tmpl[] = "/tmp/mw-file-deny-XXXXXX";
        root = ::mkdtemp(tmpl);
    }
    ~Tree() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    std::string dir(const std::string& rel) const {
        fs::create_directories(root / rel);
        return (root / rel).string();
    }
    std::string file(const std::string& rel) const {
        fs::create_directories((root / rel).parent_path());
        std::ofstream(root / rel) << "x";
        return (root / rel).string();
    }
    std::string path(const std::string& rel) const { return (root / rel).string(); }
};

policy::Glob glob(const std::string& pattern) {
    auto g = policy::Glob::compile(pattern);
    REQUIRE(g);
    return std::move(g).value();
}

policy::WorkloadPolicy workload(const std::string& name, policy::Mode mode) {
    policy::WorkloadPolicy w;
    w.name = name;
    w.mode = mode;
    w.read.allow = {glob("/**")};
    w.write.allow = {glob("/**")};
    w.exec.allow = {glob("/**")};
    return w;
}

std::vector<MarkTarget> sorted(std::vector<MarkTarget> m) {
    std::sort(m.begin(), m.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    return m;
}

constexpr std::uint64_t kDir = FAN_OPEN_PERM | FAN_EVENT_ON_CHILD;

}  // namespace

TEST_CASE("file deny: literal_directory is the directory part of the literal prefix", "[file-deny]") {
    CHECK(literal_directory(glob("/etc/shadow")) == "/etc/");
    CHECK(literal_directory(glob("/root/.ssh/**")) == "/root/.ssh/");
    CHECK(literal_directory(glob("/home/*/.ssh/id_*")) == "/home/");
    CHECK(literal_directory(glob("/proc/*/mem")) == "/proc/");
    CHECK(literal_directory(glob("/data/ke?s/x")) == "/data/");
    CHECK(literal_directory(glob("/a\\*b/c*")) == "/a*b/");
}

TEST_CASE("file deny: sensitive deny marks files, their directories and the directories a glob can reach",
          "[file-deny]") {
    Tree t;
    const auto secret = t.file("etc/secret");
    t.file("keys/a/k1");
    t.dir("keys/b");
    t.file("home/alice/.ssh/id_rsa");
    t.dir("home/bob/.ssh");
    t.dir("home/carol");
    auto w = workload("srv", policy::Mode::enforce);
    w.sensitive.action = policy::Action::deny;
    w.sensitive.paths = {glob(secret), glob(t.path("keys/**")), glob(t.path("home/*/.ssh/id_*")),
                         glob(t.path("missing/file")), glob("/proc/*/mem")};
    policy::PolicySet set;
    set.workloads.push_back(w);
    set.workloads.push_back(workload("watcher", policy::Mode::monitor));  // monitor: never marked

    const auto plan = plan_file_deny(set);
    const std::vector<MarkTarget> want = sorted({
        {secret, MarkKind::file, FAN_OPEN_PERM},
        {t.path("etc"), MarkKind::directory, kDir},
        {t.path("keys"), MarkKind::directory, kDir},
        {t.path("keys/a"), MarkKind::directory, kDir},
        {t.path("keys/b"), MarkKind::directory, kDir},
        {t.path("home/alice/.ssh"), MarkKind::directory, kDir},
        {t.path("home/bob/.ssh"), MarkKind::directory, kDir},
    });
    CHECK(sorted(plan.marks) == want);
    CHECK_FALSE(plan.wants_exec);

    REQUIRE(plan.coverage.size() == 5);
    CHECK(plan.coverage[0].denied);
    CHECK(plan.coverage[0].detail == "file and its directory " + t.path("etc") + "/ marked");
    CHECK(plan.coverage[1].denied);
    CHECK(plan.coverage[1].detail == "3 directories under " + t.path("keys") + "/ marked");
    CHECK(plan.coverage[2].denied);
    CHECK(plan.coverage[2].detail == "2 directories under " + t.path("home") + "/ marked");
    CHECK(plan.coverage[3].denied == false);
    CHECK(plan.coverage[3].detail == "not present at policy load: nothing to mark (planned again at each policy change)");
    CHECK(plan.coverage[4].denied == false);
    CHECK(plan.coverage[4].detail == "procfs refuses fanotify permission events");

    const auto lines = plan.status_lines();
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == "file deny: fanotify: workload srv: sensitive " + secret + ": file and its directory " +
                          t.path("etc") + "/ marked");
    CHECK(lines[4] == "file deny: alert-only: workload srv: sensitive /proc/*/mem: procfs refuses fanotify "
                      "permission events");
}

TEST_CASE("file deny: a glob that needs more marks than the budget is reported, not half-marked", "[file-deny]") {
    Tree t;
    for (int i = 0; i < 5; ++i) t.dir("many/d" + std::to_string(i));
    auto w = workload("srv", policy::Mode::enforce);
    w.sensitive.action = policy::Action::deny;
    w.sensitive.paths = {glob(t.path("many/**"))};
    policy::PolicySet set;
    set.workloads.push_back(w);
    PlanOptions opts;
    opts.max_marks = 4;
    const auto plan = plan_file_deny(set, opts);
    CHECK(plan.marks.empty());
    REQUIRE(plan.coverage.size() == 1);
    CHECK_FALSE(plan.coverage[0].denied);
    CHECK(plan.coverage[0].detail == "more than 4 directories under " + t.path("many") + "/ would need marks: not marked");
}

TEST_CASE("file deny: read/write/exec allow lists under deny: exec dirs, mounts only on opt-in", "[file-deny]") {
    Tree t;
    const auto bin = t.dir("bin");
    auto w = workload("srv", policy::Mode::enforce);
    w.read.action = policy::Action::deny;
    w.write.action = policy::Action::deny;
    w.exec.action = policy::Action::deny;
    policy::PolicySet set;
    set.workloads.push_back(w);

    PlanOptions opts;
    opts.exec_dirs = {bin, t.path("nope")};
    const auto plan = plan_file_deny(set, opts);
    REQUIRE(plan.marks.size() == 1);
    CHECK(plan.marks[0] == MarkTarget{bin, MarkKind::directory, FAN_OPEN_EXEC_PERM | FAN_EVENT_ON_CHILD});
    CHECK(plan.wants_exec);
    const auto lines = plan.status_lines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "file deny: alert-only: workload srv: read allow list: judged only inside the marked paths of "
                      "the sensitive rules; elsewhere alert-only (no BPF-LSM, mount marks off)");
    CHECK(lines[1].rfind("file deny: alert-only: workload srv: write allow list: ", 0) == 0);
    CHECK(lines[2] == "file deny: fanotify: workload srv: exec allow list: denied for programs directly in " + bin +
                          "; elsewhere alert-only (no BPF-LSM, mount marks off)");

    // Opt-in: every real filesystem's mount (pseudo filesystems are skipped).
    const auto mountinfo = t.file("mountinfo");
    std::ofstream(mountinfo) << "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                                "23 22 0:5 / /proc rw shared:2 - proc proc rw\n"
                                "24 22 0:6 / /my\\040data rw shared:3 - xfs /dev/sdb1 rw\n";
    opts.mark_mounts = true;
    opts.mountinfo = mountinfo;
    const auto all = plan_file_deny(set, opts);
    const std::vector<MarkTarget> want = sorted({{"/", MarkKind::mount, FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM},
                                                 {"/my data", MarkKind::mount, FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM}});
    CHECK(sorted(all.marks) == want);
    REQUIRE(all.coverage.size() == 3);
    CHECK(all.coverage[0].denied);
    CHECK(all.coverage[0].detail == "2 mount(s) marked (mount marks on): every open is judged");
    CHECK(all.coverage[2].detail == "2 mount(s) marked (mount marks on): every exec is judged");
}

TEST_CASE("file deny: nothing to deny gives no marks and says so", "[file-deny]") {
    policy::PolicySet set;
    auto w = workload("srv", policy::Mode::enforce);
    w.sensitive.action = policy::Action::kill;
    w.sensitive.paths = {glob("/etc/shadow")};
    set.workloads.push_back(w);
    const auto plan = plan_file_deny(set);
    CHECK(plan.marks.empty());
    CHECK(plan.status_lines() == std::vector<std::string>{"file deny: no enforce-mode rule asks for deny: nothing marked"});
}

TEST_CASE("file deny: decide_open denies only what an enforce-mode deny rule says", "[file-deny]") {
    auto w = workload("srv", policy::Mode::enforce);
    w.sensitive.action = policy::Action::deny;
    w.sensitive.paths = {glob("/srv/secret")};
    w.write.allow = {glob("/srv/out/**")};
    w.write.action = policy::Action::deny;
    w.exec.allow = {glob("/usr/bin/python3*")};
    w.exec.action = policy::Action::alert;

    auto d = decide_open(w, "/srv/secret", OpenIntent::read, 42);
    CHECK(d.deny);
    CHECK(d.verdict.rule_id() == policy::rule_info(policy::RuleKind::sensitive_file_access).id);
    CHECK(d.verdict.matched == "/srv/secret");
    CHECK_FALSE(decide_open(w, "/srv/public", OpenIntent::read, 42).deny);
    d = decide_open(w, "/srv/public", OpenIntent::write, 42);
    CHECK(d.deny);
    CHECK(d.verdict.rule_id() == policy::rule_info(policy::RuleKind::file_write_not_allowed).id);
    CHECK_FALSE(decide_open(w, "/srv/out/x", OpenIntent::write, 42).deny);
    // exec outside the allow list, but the exec action is alert: the kernel record alerts.
    d = decide_open(w, "/bin/sh", OpenIntent::exec, 42);
    CHECK_FALSE(d.deny);
    CHECK_FALSE(d.verdict.allowed);
    w.mode = policy::Mode::monitor;
    CHECK_FALSE(decide_open(w, "/srv/secret", OpenIntent::read, 42).deny);
}

TEST_CASE("file deny: opens_for_write reads O_ flags like the pipeline", "[file-deny]") {
    CHECK_FALSE(opens_for_write(O_RDONLY | O_CLOEXEC));
    CHECK(opens_for_write(O_WRONLY));
    CHECK(opens_for_write(O_RDWR));
    CHECK(opens_for_write(O_RDONLY | O_CREAT));
    CHECK(opens_for_write(O_RDONLY | O_TRUNC));
    CHECK(opens_for_write(O_RDONLY | O_APPEND));
}

TEST_CASE("file deny: blocked_open_flags reads the flags of an open a thread is blocked in", "[file-deny]") {
    Tree t;
    const auto fifo = t.path("fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::atomic<pid_t> tid{0};
    std::atomic<int> fd{-1};
    // open(O_WRONLY) of a FIFO blocks in openat until a reader comes: a thread parked in an open.
    std::thread opener([&] {
        tid = static_cast<pid_t>(::syscall(SYS_gettid));
        fd = ::open(fifo.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    });
    while (tid == 0) std::this_thread::yield();
    std::optional<std::uint32_t> flags;
    for (int i = 0; i < 2000 && !flags; ++i) {  // until the thread has entered openat
        flags = blocked_open_flags(tid);
        if (!flags) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
    opener.join();
    ::close(reader);
    ::close(fd);
    REQUIRE(flags.has_value());
    CHECK((*flags & O_ACCMODE) == O_WRONLY);
    CHECK((*flags & O_APPEND) == O_APPEND);
    CHECK(opens_for_write(*flags));
    // This thread is running (reading the file), not blocked in an open.
    CHECK_FALSE(blocked_open_flags(static_cast<pid_t>(::syscall(SYS_gettid))).has_value());
}
