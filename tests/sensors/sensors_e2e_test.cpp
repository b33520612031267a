// e2e: loads the real sensors, marks forked children through the map API, makes them
// do real syscalls and asserts the exact records read back from the ring buffer.
#include "daemon/kernel_policy.hpp"
#include "features.hpp"
#include "policy/compile.hpp"
#include "policy/parser.hpp"
#include "ring_buffer.hpp"
#include "sensors.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/syscall.h>
#include <linux/openat2.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace mw::sensors;

namespace {

using Record = std::vector<std::byte>;

struct Harness {
    boost::asio::io_context io;
    Sensors sensors;
    std::unique_ptr<RingBufferReader> reader;
    std::vector<Record> records;

    explicit Harness(Sensors s) : sensors(std::move(s)) {}
};

Harness& harness()
{
    static std::unique_ptr<Harness> h = [] {
        auto s = Sensors::open();
        if (!s) FAIL("open: " << s.error().message);
        if (auto r = s->configure({}); !r) FAIL("configure: " << r.error().message);
        if (auto r = s->load(); !r) FAIL("load: " << r.error().message);
        if (auto r = s->attach(); !r) FAIL("attach: " << r.error().message);
        auto hp = std::make_unique<Harness>(std::move(s.value()));
        auto reader = RingBufferReader::create(hp->io, hp->sensors.events_map_fd(), [raw = hp.get()](std::span<const std::byte> rec) {
            raw->records.emplace_back(rec.begin(), rec.end());
        });
        if (!reader) FAIL("reader: " << reader.error().message);
        hp->reader = std::move(reader.value());
        return hp;
    }();
    return *h;
}

// Forks a child that waits until the parent (optionally) marks it, then runs body.
// Returns the child's pid after it has exited; records are drained into `out`.
pid_t run_child(bool watched, const std::function<void()>& body, std::uint32_t workload_id = 1,
                int* status_out = nullptr, bool drain = true)
{
    auto& h = harness();
    if (drain) REQUIRE(h.reader->drain());
    h.records.clear();
    int go[2];
    REQUIRE(::pipe(go) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        ::close(go[1]);
        if (::read(go[0], &c, 1) != 1) ::_exit(99);
        body();
        ::_exit(0);
    }
    ::close(go[0]);
    if (watched) {
        mw_task_state st{};
        st.workload_id = workload_id;
        REQUIRE(h.sensors.mark_task(static_cast<std::uint32_t>(pid), st));
    }
    REQUIRE(::write(go[1], "g", 1) == 1);
    ::close(go[1]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (status_out) *status_out = status;
    if (drain) REQUIRE(h.reader->drain());
    return pid;
}

template <class T>
const T* as(const Record& r)
{
    return r.size() >= sizeof(T) ? reinterpret_cast<const T*>(r.data()) : nullptr;
}

const mw_event_header* hdr(const Record& r) { return as<mw_event_header>(r); }

std::vector<const Record*> of(std::uint32_t pid, std::uint16_t type)
{
    std::vector<const Record*> out;
    for (const auto& r : harness().records)
        if (hdr(r) && hdr(r)->pid == pid && hdr(r)->type == type) out.push_back(&r);
    return out;
}

std::size_t count_for(std::uint32_t pid)
{
    std::size_t n = 0;
    for (const auto& r : harness().records)
        if (hdr(r) && hdr(r)->pid == pid) ++n;
    return n;
}

// The i-th variable string after the fixed part (lengths include the NUL).
std::string str_at(const Record& r, std::size_t fixed, std::initializer_list<std::uint16_t> lens, std::size_t index)
{
    std::size_t off = fixed;
    std::size_t i = 0;
    for (auto len : lens) {
        if (i++ == index) {
            if (len == 0 || off + len > r.size()) return "<absent>";
            return std::string(reinterpret_cast<const char*>(r.data()) + off, len - 1);
        }
        off += len;
    }
    return "<absent>";
}

std::string file_path(const Record& r)
{
    auto* e = as<mw_file_event>(r);
    return str_at(r, sizeof(mw_file_event), {e->path_len, e->target_len}, 0);
}

std::string file_target(const Record& r)
{
    auto* e = as<mw_file_event>(r);
    return str_at(r, sizeof(mw_file_event), {e->path_len, e->target_len}, 1);
}

std::string temp_dir()
{
    char tmpl[] = "/tmp/mw-sensors-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    char real[PATH_MAX];
    REQUIRE(::realpath(tmpl, real) != nullptr);
    return real;
}

std::string realpath_of(const char* p)
{
    char real[PATH_MAX];
    REQUIRE(::realpath(p, real) != nullptr);
    return real;
}

}  // namespace

TEST_CASE("exec of a watched child reports filename, argv, cwd and exit", "[sensors][e2e]")
{
    pid_t pid = run_child(true, [] {
        if (::chdir("/tmp") != 0) ::_exit(98);
        char* argv[] = {const_cast<char*>("/bin/true"), const_cast<char*>("a"), const_cast<char*>("bb"), nullptr};
        ::execv("/bin/true", argv);
        ::_exit(97);
    });
    auto execs = of(pid, MW_EVENT_PROCESS_EXEC);
    REQUIRE(execs.size() == 1);
    const auto& r = *execs[0];
    auto* e = as<mw_exec_event>(r);
    CHECK(e->hdr.ppid == static_cast<std::uint32_t>(::getpid()));
    CHECK(e->hdr.workload_id == 1);
    CHECK(e->hdr.flags == MW_FLAG_PATH_RESOLVED);
    CHECK(e->hdr.size == r.size());
    CHECK(e->argc == 3);
    CHECK(str_at(r, sizeof(mw_exec_event), {e->filename_len, e->args_len, e->cwd_len}, 0) == realpath_of("/bin/true"));
    CHECK(str_at(r, sizeof(mw_exec_event), {e->filename_len, e->args_len, e->cwd_len}, 1) ==
          std::string("/bin/true\0a\0bb", 14));
    CHECK(str_at(r, sizeof(mw_exec_event), {e->filename_len, e->args_len, e->cwd_len}, 2) == realpath_of("/tmp"));
    CHECK(std::string(e->hdr.comm) == "true");

    auto exits = of(pid, MW_EVENT_PROCESS_EXIT);
    REQUIRE(exits.size() == 1);
    CHECK(as<mw_exit_event>(*exits[0])->exit_code == 0);
    // the mark is gone with the process
    CHECK_FALSE(harness().sensors.task_state(static_cast<std::uint32_t>(pid)));
}

TEST_CASE("exec failure is an exec attempt with the result", "[sensors][e2e]")
{
    pid_t pid = run_child(true, [] {
        char* argv[] = {const_cast<char*>("nope"), nullptr};
        ::execv("/nonexistent/mw-nope", argv);
        ::_exit(0);
    });
    auto attempts = of(pid, MW_EVENT_EXEC_ATTEMPT);
    REQUIRE(attempts.size() == 1);
    auto* e = as<mw_exec_attempt_event>(*attempts[0]);
    CHECK(e->result == -ENOENT);
    CHECK(e->dirfd == AT_FDCWD);
    CHECK(str_at(*attempts[0], sizeof(mw_exec_attempt_event), {e->filename_len}, 0) == "/nonexistent/mw-nope");
}

TEST_CASE("file syscalls of a watched child: relative open, failing open, unlink, rename, chmod, memfd", "[sensors][e2e]")
{
    std::string dir = temp_dir();
    pid_t pid = run_child(true, [&] {
        if (::chdir(dir.c_str()) != 0) ::_exit(98);
        int fd = ::open("f.txt", O_CREAT | O_WRONLY, 0600);
        ::close(fd);
        ::open("missing/x", O_RDONLY);
        ::unlink("f.txt");
        ::close(::open("a", O_CREAT | O_WRONLY, 0600));
        ::rename("a", "b");
        ::chmod("b", 0640);
        ::memfd_create("mw-test", 0);
    });
    auto opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 3);
    auto* o1 = as<mw_file_event>(*opens[0]);
    CHECK(file_path(*opens[0]) == dir + "/f.txt");
    CHECK(o1->hdr.flags == MW_FLAG_PATH_RESOLVED);
    CHECK(o1->result >= 0);
    CHECK(o1->open_flags == (O_CREAT | O_WRONLY));
    CHECK(o1->mode == 0600);
    auto* o2 = as<mw_file_event>(*opens[1]);
    CHECK(file_path(*opens[1]) == dir + "/missing/x");
    CHECK(o2->hdr.flags == 0);
    CHECK(o2->result == -ENOENT);
    CHECK(file_path(*opens[2]) == dir + "/a");

    auto unlinks = of(pid, MW_EVENT_FILE_UNLINK);
    REQUIRE(unlinks.size() == 1);
    CHECK(file_path(*unlinks[0]) == dir + "/f.txt");
    CHECK(as<mw_file_event>(*unlinks[0])->result == 0);

    auto renames = of(pid, MW_EVENT_FILE_RENAME);
    REQUIRE(renames.size() == 1);
    CHECK(file_path(*renames[0]) == dir + "/a");
    CHECK(file_target(*renames[0]) == dir + "/b");
    CHECK(as<mw_file_event>(*renames[0])->result == 0);

    auto chmods = of(pid, MW_EVENT_FILE_CHMOD);
    REQUIRE(chmods.size() == 1);
    CHECK(file_path(*chmods[0]) == dir + "/b");
    CHECK(as<mw_file_event>(*chmods[0])->mode == 0640);

    auto memfds = of(pid, MW_EVENT_MEMFD_CREATE);
    REQUIRE(memfds.size() == 1);
    CHECK(file_target(*memfds[0]) == "mw-test");
    CHECK(as<mw_file_event>(*memfds[0])->result >= 0);

    ::unlink((dir + "/b").c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("an unwatched process doing the same produces no record", "[sensors][e2e]")
{
    std::string dir = temp_dir();
    pid_t pid = run_child(false, [&] {
        if (::chdir(dir.c_str()) != 0) ::_exit(98);
        ::close(::open("f.txt", O_CREAT | O_WRONLY, 0600));
        ::unlink("f.txt");
        ::setuid(0);
        int s = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(9);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
        if (::fork() == 0) ::_exit(0);
        ::wait(nullptr);
        char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
        ::execv("/bin/true", argv);
    });
    CHECK(count_for(static_cast<std::uint32_t>(pid)) == 0);
    ::rmdir(dir.c_str());
}

TEST_CASE("network syscalls of a watched child: connect, bind, listen, UDP sendto", "[sensors][e2e]")
{
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in la{};
    la.sin_family = AF_INET;
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&la), sizeof la) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    socklen_t len = sizeof la;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&la), &len) == 0);
    std::uint16_t port = ntohs(la.sin_port);

    pid_t pid = run_child(true, [&] {
        int c = ::socket(AF_INET, SOCK_STREAM, 0);
        ::connect(c, reinterpret_cast<const sockaddr*>(&la), sizeof la);
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in b{};
        b.sin_family = AF_INET;
        b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(s, reinterpret_cast<sockaddr*>(&b), sizeof b);
        ::listen(s, 7);
        int u = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in d{};
        d.sin_family = AF_INET;
        d.sin_port = htons(static_cast<std::uint16_t>(port + 1));
        d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::sendto(u, "x", 1, 0, reinterpret_cast<sockaddr*>(&d), sizeof d);
    });
    ::close(listener);

    const std::uint8_t loopback[4] = {127, 0, 0, 1};
    auto connects = of(pid, MW_EVENT_NET_CONNECT);
    REQUIRE(connects.size() == 1);
    auto* c = as<mw_net_event>(*connects[0]);
    CHECK(c->result == 0);
    CHECK(c->remote.family == AF_INET);
    CHECK(c->remote.port == port);
    CHECK(std::memcmp(c->remote.addr, loopback, 4) == 0);
    CHECK(c->socket_type == SOCK_STREAM);

    auto binds = of(pid, MW_EVENT_NET_BIND);
    REQUIRE(binds.size() == 1);
    CHECK(as<mw_net_event>(*binds[0])->result == 0);
    CHECK(as<mw_net_event>(*binds[0])->local.family == AF_INET);
    CHECK(std::memcmp(as<mw_net_event>(*binds[0])->local.addr, loopback, 4) == 0);

    auto listens = of(pid, MW_EVENT_NET_LISTEN);
    REQUIRE(listens.size() == 1);
    auto* l = as<mw_net_event>(*listens[0]);
    CHECK(l->result == 0);
    CHECK(l->backlog == 7);
    CHECK(l->local.port != 0);  // the kernel-assigned port, read from the sock

    auto sends = of(pid, MW_EVENT_NET_SEND);
    REQUIRE(sends.size() == 1);
    auto* s = as<mw_net_event>(*sends[0]);
    CHECK(s->remote.port == port + 1);
    CHECK(s->socket_type == SOCK_DGRAM);
    CHECK(s->result == 1);
}

TEST_CASE("setuid of a watched child is a privilege change", "[sensors][e2e]")
{
    pid_t pid = run_child(true, [] { ::setuid(0); });
    auto privs = of(pid, MW_EVENT_PRIV_CHANGE);
    REQUIRE(privs.size() == 1);
    auto* e = as<mw_syscall_event>(*privs[0]);
    CHECK(e->result == 0);
    CHECK(e->args[0] == 0);
    CHECK(e->syscall_nr == 105);  // __NR_setuid on x86_64
}

TEST_CASE("a child forked by a watched process is watched from its first syscall", "[sensors][e2e]")
{
    int grandchild_status = -1;
    pid_t pid = run_child(true, [] {
        pid_t g = ::fork();
        if (g == 0) {
            ::open("/nonexistent-mw-grandchild", O_RDONLY);
            ::_exit(3);
        }
        int st;
        ::waitpid(g, &st, 0);
        ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 90);
    }, 1, &grandchild_status);
    REQUIRE(WIFEXITED(grandchild_status));
    REQUIRE(WEXITSTATUS(grandchild_status) == 3);
    auto forks = of(pid, MW_EVENT_PROCESS_FORK);
    REQUIRE(forks.size() == 1);
    auto* f = as<mw_fork_event>(*forks[0]);
    std::uint32_t g = f->child_pid;
    CHECK(f->hdr.workload_id == 1);
    auto opens = of(g, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 1);
    CHECK(file_path(*opens[0]) == "/nonexistent-mw-grandchild");
    CHECK(as<mw_file_event>(*opens[0])->hdr.ppid == static_cast<std::uint32_t>(pid));
    auto exits = of(g, MW_EVENT_PROCESS_EXIT);
    REQUIRE(exits.size() == 1);
    CHECK(as<mw_exit_event>(*exits[0])->exit_code == (3 << 8));
    CHECK(as<mw_exit_event>(*exits[0])->hdr.start_time_ns == f->child_start_time_ns);
}

TEST_CASE("an allowed open sends nothing, a disallowed one is reported", "[sensors][e2e]")
{
    auto& s = harness().sensors;
    std::string dir = temp_dir();
    std::string allowed = dir + "/model.bin";
    ::close(::open(allowed.c_str(), O_CREAT | O_WRONLY, 0644));
    const std::uint32_t wl = 7;
    REQUIRE(s.set_workload(wl, mw_workload_config{}));
    auto key = make_path_rule_key(wl, dir + "/", false);
    REQUIRE(key);
    REQUIRE(s.add_path_rule(*key, mw_path_rule{MW_PATH_ALLOW_READ}));

    pid_t pid = run_child(true, [&] {
        ::close(::open(allowed.c_str(), O_RDONLY));   // allowed: read under dir/
        ::close(::open(allowed.c_str(), O_WRONLY));   // write not allowed
        ::close(::open("/etc/hostname", O_RDONLY));   // outside the rule
    }, wl);
    auto opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 2);
    CHECK(file_path(*opens[0]) == allowed);
    CHECK(as<mw_file_event>(*opens[0])->open_flags == O_WRONLY);
    CHECK(file_path(*opens[1]) == realpath_of("/etc/hostname"));

    // full auditing reports the allowed open too
    mw_workload_config audit{};
    audit.flags = MW_WL_AUDIT_ALL;
    REQUIRE(s.set_workload(wl, audit));
    pid = run_child(true, [&] { ::close(::open(allowed.c_str(), O_RDONLY)); }, wl);
    opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 1);
    CHECK(file_path(*opens[0]) == allowed);

    REQUIRE(s.clear_path_rules());
    ::unlink(allowed.c_str());
    ::rmdir(dir.c_str());
}

// ---- open-family arguments read back at sys_exit, model files, allow-verdict cache ----------

namespace {

void touch(const std::string& path)
{
    std::ofstream(path) << "x";
}

// Opens `path` read-only and closes it; the child's exit code says if an open failed.
void open_ro(const std::string& path)
{
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) ::_exit(50);
    ::close(fd);
}

std::vector<std::string> open_paths(std::uint32_t pid)
{
    std::vector<std::string> out;
    for (const auto* r : of(pid, MW_EVENT_FILE_OPEN)) out.push_back(file_path(*r));
    return out;
}

// A workload `wl` that may read everything under each of `dirs` (and nothing else).
void allow_read(std::uint32_t wl, const std::vector<std::string>& dirs)
{
    auto& s = harness().sensors;
    REQUIRE(s.set_workload(wl, mw_workload_config{}));
    std::vector<std::pair<mw_path_rule_key, mw_path_rule>> rules;
    for (const auto& d : dirs) {
        auto key = make_path_rule_key(wl, d + "/", false);
        REQUIRE(key);
        rules.emplace_back(*key, mw_path_rule{MW_PATH_ALLOW_READ});
    }
    REQUIRE(s.replace_path_rules(rules));
}

}  // namespace

TEST_CASE("open arguments come from the exit registers: creat, openat2, failing relative open", "[sensors][e2e]")
{
    std::string dir = temp_dir();
    pid_t pid = run_child(true, [&] {
        if (::chdir(dir.c_str()) != 0) ::_exit(98);
        ::close(::creat("c", 0640));
        open_how how{};
        how.flags = O_RDONLY | O_CLOEXEC;
        ::syscall(SYS_openat2, AT_FDCWD, "missing2", &how, sizeof how);
        ::openat(AT_FDCWD, "nope/y", O_WRONLY | O_APPEND);
    });
    auto opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 3);
    auto* c = as<mw_file_event>(*opens[0]);
    CHECK(file_path(*opens[0]) == dir + "/c");
    CHECK(c->open_flags == (O_CREAT | O_WRONLY | O_TRUNC));
    CHECK(c->mode == 0640);
    CHECK(c->result >= 0);
    auto* o2 = as<mw_file_event>(*opens[1]);
    CHECK(file_path(*opens[1]) == dir + "/missing2");
    CHECK(o2->open_flags == (O_RDONLY | O_CLOEXEC));
    CHECK(o2->result == -ENOENT);
    auto* o3 = as<mw_file_event>(*opens[2]);
    CHECK(file_path(*opens[2]) == dir + "/nope/y");
    CHECK(o3->open_flags == (O_WRONLY | O_APPEND));
    CHECK(o3->result == -ENOENT);
    ::unlink((dir + "/c").c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("a model file outside models.dirs is always reported, inside them never", "[sensors][e2e]")
{
    auto& s = harness().sensors;
    const std::uint32_t wl = 11;
    std::string dir = temp_dir();
    REQUIRE(::mkdir((dir + "/x").c_str(), 0755) == 0);
    REQUIRE(::mkdir((dir + "/models").c_str(), 0755) == 0);
    for (const char* f : {"/x/model.pt", "/x/MODEL.SafeTensors", "/x/notes.txt", "/models/model.pt"}) touch(dir + f);
    allow_read(wl, {dir});  // everything below dir may be read: only the model rule reports
    REQUIRE(s.replace_model_extensions(mw::policy::model_file_extensions()));
    REQUIRE(s.replace_model_dirs({{wl, dir + "/models/"}}));

    pid_t pid = run_child(true, [&] {
        open_ro(dir + "/x/model.pt");
        open_ro(dir + "/x/model.pt");  // never cached as allowed: reported again
        open_ro(dir + "/x/MODEL.SafeTensors");
        open_ro(dir + "/x/notes.txt");
        open_ro(dir + "/models/model.pt");
    }, wl);
    auto opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 3);
    for (const auto* r : opens) CHECK(hdr(*r)->flags == (MW_FLAG_PATH_RESOLVED | MW_FLAG_MODEL_FILE));
    CHECK(file_path(*opens[0]) == dir + "/x/model.pt");
    CHECK(file_path(*opens[1]) == dir + "/x/model.pt");
    CHECK(file_path(*opens[2]) == dir + "/x/MODEL.SafeTensors");

    // the same file under a models dir sends nothing; outside the read allow list it is
    // reported as before, with the flag
    pid = run_child(true, [&] { open_ro(dir + "/models/model.pt"); }, wl);
    CHECK(of(pid, MW_EVENT_FILE_OPEN).empty());
    REQUIRE(s.replace_path_rules({}));
    pid = run_child(true, [&] {
        open_ro(dir + "/x/model.pt");
        open_ro(dir + "/x/notes.txt");
    }, wl);
    opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 2);
    CHECK(hdr(*opens[0])->flags == (MW_FLAG_PATH_RESOLVED | MW_FLAG_MODEL_FILE));
    CHECK(hdr(*opens[1])->flags == MW_FLAG_PATH_RESOLVED);

    REQUIRE(s.replace_model_dirs({}));
    for (const char* f : {"/x/model.pt", "/x/MODEL.SafeTensors", "/x/notes.txt", "/models/model.pt"})
        ::unlink((dir + f).c_str());
    ::rmdir((dir + "/x").c_str());
    ::rmdir((dir + "/models").c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("the model extension list is one list, matched case-insensitively on the last component", "[sensors][unit]")
{
    using mw::policy::has_model_extension;
    CHECK(mw::policy::model_file_extensions().size() == 15);
    CHECK(has_model_extension("/srv/m/model.safetensors"));
    CHECK(has_model_extension("/srv/m/W.PTH"));
    CHECK(has_model_extension("rel/x.gguf"));
    CHECK_FALSE(has_model_extension("/srv/m.pt/readme"));
    CHECK_FALSE(has_model_extension("/srv/m/model.ptx"));
    CHECK_FALSE(has_model_extension("/srv/m/pt"));
}

TEST_CASE("allowed opens are cached and a hard link to a denied file from an allowed dir is judged by its path",
          "[sensors][e2e]")
{
    auto& s = harness().sensors;
    const std::uint32_t wl = 12;
    std::string dir = temp_dir();
    const std::string allowed = dir + "/allowed", denied = dir + "/denied";
    REQUIRE(::mkdir(allowed.c_str(), 0755) == 0);
    REQUIRE(::mkdir(denied.c_str(), 0755) == 0);
    touch(allowed + "/f");
    touch(denied + "/secret");
    REQUIRE(::link((denied + "/secret").c_str(), (allowed + "/link").c_str()) == 0);
    allow_read(wl, {allowed});
    REQUIRE(s.open_cache_active());

    pid_t pid = run_child(true, [&] {
        for (int i = 0; i < 3; ++i) open_ro(allowed + "/f");  // allowed: the 2nd and 3rd hit the cache
        open_ro(allowed + "/link");                           // allowed by its path (two names: not cached)
        open_ro(denied + "/secret");                          // the same inode by its denied path
        open_ro(allowed + "/link");
        open_ro(denied + "/secret");
    }, wl);
    CHECK(open_paths(pid) == std::vector<std::string>{denied + "/secret", denied + "/secret"});
    auto entries = s.open_cache_entries();
    REQUIRE(entries);
    CHECK(*entries >= 1);

    // a name given to a cached file later (link, then the allowed name removed): the new
    // name is judged by its own path, from the first open on
    pid = run_child(true, [&] {
        open_ro(allowed + "/f");
        open_ro(allowed + "/f");
        if (::link((allowed + "/f").c_str(), (denied + "/f2").c_str()) != 0) ::_exit(60);
        if (::unlink((allowed + "/f").c_str()) != 0) ::_exit(61);
        open_ro(denied + "/f2");
    }, wl);
    CHECK(open_paths(pid) == std::vector<std::string>{denied + "/f2"});

    for (const char* f : {"/allowed/link", "/denied/secret", "/denied/f2"}) ::unlink((dir + f).c_str());
    ::rmdir(allowed.c_str());
    ::rmdir(denied.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("a cached allowed file renamed (itself or its directory) into a denied place is reported",
          "[sensors][e2e]")
{
    const std::uint32_t wl = 13;
    std::string dir = temp_dir();
    const std::string allowed = dir + "/allowed", denied = dir + "/denied";
    REQUIRE(::mkdir(allowed.c_str(), 0755) == 0);
    REQUIRE(::mkdir(denied.c_str(), 0755) == 0);
    REQUIRE(::mkdir((allowed + "/sub").c_str(), 0755) == 0);
    touch(allowed + "/f");
    touch(allowed + "/sub/g");
    allow_read(wl, {allowed});
    REQUIRE(harness().sensors.open_cache_active());

    // the same dentry, mount and inode before and after: only the rename hook tells
    pid_t pid = run_child(true, [&] {
        open_ro(allowed + "/f");
        open_ro(allowed + "/f");
        open_ro(allowed + "/sub/g");
        open_ro(allowed + "/sub/g");
        if (::rename((allowed + "/f").c_str(), (denied + "/f").c_str()) != 0) ::_exit(60);
        if (::rename((allowed + "/sub").c_str(), (denied + "/sub").c_str()) != 0) ::_exit(61);
        open_ro(denied + "/f");
        open_ro(denied + "/sub/g");
    }, wl);
    CHECK(open_paths(pid) == std::vector<std::string>{denied + "/f", denied + "/sub/g"});

    ::unlink((denied + "/f").c_str());
    ::unlink((denied + "/sub/g").c_str());
    ::rmdir((denied + "/sub").c_str());
    ::rmdir(allowed.c_str());
    ::rmdir(denied.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("a policy reload that denies a cached allowed file reports its next open", "[sensors][e2e]")
{
    auto& s = harness().sensors;
    std::string dir = temp_dir();
    const std::string file = dir + "/weights.txt";
    touch(file);
    auto policy = [&](const std::string& read_allow) {
        return fmt::format(R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {{name: reload-test, owner: tests}}
spec:
  mode: monitor
  selector:
    executable: ["/nonexistent/mw-reload-test"]
  files:
    read: {{allow: ["{}"], action: alert}}
)",
                           read_allow);
    };
    auto load = [&](const std::string& text) {
        auto report = mw::policy::parse_policy_text(text, "reload-test.yaml");
        REQUIRE(report.ok());
        REQUIRE(mw::load_policy_maps(s, mw::policy::compile_policy_set(report.policies), mw::find_cgroup2_mount()));
    };
    load(policy(dir + "/**"));

    // the child opens the file twice (the second from the cache), the parent reloads a
    // policy without that allow entry, the child opens it again
    int to_parent[2], to_child[2];
    REQUIRE(::pipe(to_parent) == 0);
    REQUIRE(::pipe(to_child) == 0);
    auto& h = harness();
    REQUIRE(h.reader->drain());
    h.records.clear();
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        if (::read(to_child[0], &c, 1) != 1) ::_exit(99);
        open_ro(file);
        open_ro(file);
        if (::write(to_parent[1], "1", 1) != 1 || ::read(to_child[0], &c, 1) != 1) ::_exit(98);
        open_ro(file);
        ::_exit(0);
    }
    mw_task_state st{};
    st.workload_id = 1;  // the only workload of the loaded set
    REQUIRE(s.mark_task(static_cast<std::uint32_t>(pid), st));
    REQUIRE(::write(to_child[1], "g", 1) == 1);
    char c;
    REQUIRE(::read(to_parent[0], &c, 1) == 1);
    REQUIRE(h.reader->drain());
    CHECK(of(static_cast<std::uint32_t>(pid), MW_EVENT_FILE_OPEN).empty());
    load(policy("/nonexistent/only/**"));
    REQUIRE(::write(to_child[1], "g", 1) == 1);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    REQUIRE(h.reader->drain());
    CHECK(open_paths(static_cast<std::uint32_t>(pid)) == std::vector<std::string>{file});
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);

    REQUIRE(s.replace_path_rules({}));
    ::unlink(file.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("allowed egress (net rule) sends nothing", "[sensors][e2e]")
{
    auto& s = harness().sensors;
    const std::uint32_t wl = 8;
    REQUIRE(s.set_workload(wl, mw_workload_config{}));
    const std::uint8_t lo[4] = {127, 0, 0, 0};
    auto key = make_net_rule_key(wl, 0, lo, 4, 8);
    REQUIRE(key);
    REQUIRE(s.add_net_rule(*key, mw_net_rule{MW_NET_ALLOW_UDP}));
    pid_t pid = run_child(true, [] {
        int u = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in d{};
        d.sin_family = AF_INET;
        d.sin_port = htons(9);
        d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::sendto(u, "x", 1, 0, reinterpret_cast<sockaddr*>(&d), sizeof d);  // allowed
        d.sin_addr.s_addr = htonl(0x0a000001);                                 // 10.0.0.1: not allowed
        ::sendto(u, "x", 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&d), sizeof d);
    }, wl);
    auto sends = of(pid, MW_EVENT_NET_SEND);
    REQUIRE(sends.size() == 1);
    const std::uint8_t ten[4] = {10, 0, 0, 1};
    CHECK(std::memcmp(as<mw_net_event>(*sends[0])->remote.addr, ten, 4) == 0);
    REQUIRE(s.clear_net_rules());
}

TEST_CASE("the asio path delivers records and drop counters read back", "[sensors][e2e]")
{
    auto& h = harness();
    REQUIRE(h.reader->drain());
    h.records.clear();
    h.reader->start();
    pid_t pid = run_child(true, [] { ::open("/nonexistent-mw-asio", O_RDONLY); }, 1, nullptr, false);
    CHECK(of(pid, MW_EVENT_FILE_OPEN).empty());  // nothing consumed until the loop runs
    // the record is already in the ring: the armed wait completes and drains it
    for (int i = 0; i < 50 && of(pid, MW_EVENT_FILE_OPEN).empty(); ++i) {
        h.io.restart();
        h.io.run_for(std::chrono::milliseconds(100));
    }
    h.reader->stop();
    auto opens = of(pid, MW_EVENT_FILE_OPEN);
    REQUIRE(opens.size() == 1);
    CHECK(file_path(*opens[0]) == "/nonexistent-mw-asio");
    auto drops = h.sensors.read_drop_counters();
    REQUIRE(drops);
    CHECK(drops->by_reason[MW_DROP_RINGBUF_FULL] == 0);
}

TEST_CASE("probe reports every feature with a reason", "[sensors][e2e]")
{
    auto f = probe();
    for (const char* name : {"btf", "ringbuf", "tp_btf", "raw_tp", "syscall_tracepoints", "cgroup_sock_addr",
                             "bpf_send_signal", "fentry", "bpf_lsm", "kprobes", "fanotify_perm", "lockdown",
                             "tracefs", "bpffs"}) {
        INFO(name);
        REQUIRE(f.find(name) != nullptr);
    }
    // what the sensors themselves depend on, proven by the tests above
    CHECK(f.has("btf"));
    CHECK(f.has("ringbuf"));
    CHECK(f.has("tp_btf"));
    CHECK(f.has("syscall_tracepoints"));
    CHECK(f.has("tracefs"));
    CHECK(f.has("bpffs"));
    std::string report = fmt::format("{}", f);
    CHECK(report.find("syscall_tracepoints") != std::string::npos);
}
