// Pipeline: synthetic kernel records through the real decoder, process table and policy
// evaluator; asserts the exact events and alerts, and the selector confirm/drop decisions.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <map>

#include "pipeline/pipeline.hpp"
#include "policy/parser.hpp"
#include "policy/rules.hpp"
#include "process/process_table.hpp"
#include "record_builder.hpp"

using namespace mw;

namespace {

constexpr const char* kPolicy = R"(
apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: torch-test, owner: tests}
spec:
  mode: monitor
  selector:
    executable: ["/usr/bin/python3*"]
    cmdline_contains: ["serve.py"]
  process:
    exec: {allow: [], action: alert}
  files:
    read: {allow: ["/usr/**"], action: alert}
    write: {allow: ["/tmp/**"], action: alert}
  network:
    egress: {allow: ["10.0.0.0/8:443"], action: alert}
    listen: {allow: [8080], action: alert}
)";

struct Captured {
    EventKind kind = EventKind::Event;
    std::string action;
    std::uint32_t pid = 0;
    std::string executable;
    std::string rule_id;
    std::string file_path;
    std::uint16_t dport = 0;
    std::string workload;
    std::vector<std::uint32_t> ancestors;
    std::uint32_t root_pid = 0;
};

struct CaptureSink : EventSink {
    std::vector<Captured> events;
    void emit(const SecurityEvent& e) override {
        Captured c;
        c.kind = e.kind;
        c.action = std::string(e.action);
        if (e.process) {
            c.pid = e.process->pid;
            c.executable = e.process->executable;
        }
        if (e.rule) c.rule_id = std::string(e.rule->id);
        c.file_path = std::string(e.file_path);
        c.dport = e.destination.port;
        c.workload = std::string(e.workload_name);
        for (const auto* p : e.ancestors) c.ancestors.push_back(p->pid);
        if (e.workload_root) c.root_pid = e.workload_root->pid;
        events.push_back(std::move(c));
    }
};

struct RecordingScope : TaskScope {
    std::map<std::uint32_t, std::uint32_t> watched;
    std::vector<std::uint32_t> unwatched;
    void watch(std::uint32_t pid, std::uint32_t wl) override { watched[pid] = wl; }
    void unwatch(std::uint32_t pid) override { unwatched.push_back(pid); }
};

void fill_header(mw_event_header& h, std::uint32_t pid, std::uint32_t ppid, std::uint32_t workload,
                 std::uint64_t start) {
    h.pid = pid;
    h.tid = pid;
    h.ppid = ppid;
    h.workload_id = workload;
    h.start_time_ns = start;
    h.timestamp_ns = start + 1000;
}

std::span<const std::byte> exec_record(test::RecordBuilder& b, std::uint32_t pid, std::uint32_t ppid,
                                       std::uint32_t workload, std::uint32_t flags, std::string_view exe,
                                       std::initializer_list<std::string_view> args, std::uint64_t start) {
    auto& ev = b.start<mw_exec_event>(MW_EVENT_PROCESS_EXEC);
    fill_header(ev.hdr, pid, ppid, workload, start);
    ev.hdr.flags = flags;
    const auto f = b.add_string(exe);
    const auto a = b.add_args(args);
    const auto c = b.add_string("/srv");
    auto& body = b.body<mw_exec_event>();
    body.filename_len = f;
    body.args_len = a;
    body.cwd_len = c;
    body.argc = static_cast<std::uint32_t>(args.size());
    return b.finish();
}

ProcessTableConfig no_proc() {
    ProcessTableConfig c;
    c.proc_root = "/nonexistent-proc";
    return c;
}

struct Fixture {
    policy::PolicySet policies;
    // /proc lookups would find unrelated real processes for synthetic pids: point them nowhere.
    ProcessTable table{no_proc()};
    RecordingScope scope;
    CaptureSink sink;
    Pipeline pipeline{table, scope, sink};

    Fixture() {
        auto report = policy::parse_policy_text(kPolicy, "test.yaml");
        REQUIRE(report.ok());
        policies = std::move(report.policies);
        pipeline.set_policies(&policies);
    }
};

const std::string& rule_id(policy::RuleKind k) {
    static std::map<policy::RuleKind, std::string> ids;
    auto [it, inserted] = ids.try_emplace(k, std::string(policy::rule_info(k).id));
    return it->second;
}

}  // namespace

TEST_CASE("a provisional exec that matches a selector is confirmed and starts a workload", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    f.pipeline.on_record(exec_record(b, 1000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE, "/usr/bin/python3.11",
                                     {"python3", "serve.py", "--port", "8080"}, 5'000));
    REQUIRE(f.scope.watched.count(1000) == 1);
    CHECK(f.scope.watched[1000] == 1);
    REQUIRE(f.sink.events.size() == 1);
    CHECK(f.sink.events[0].kind == EventKind::Event);
    CHECK(f.sink.events[0].action == "exec");
    CHECK(f.sink.events[0].workload == "torch-test");
    CHECK(f.sink.events[0].rule_id.empty());
}

TEST_CASE("a provisional exec that fails the full selector is unwatched and emits nothing", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    f.pipeline.on_record(exec_record(b, 2000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE, "/usr/bin/python3.11",
                                     {"python3", "notebook.py"}, 6'000));
    CHECK(f.scope.watched.empty());
    CHECK(f.scope.unwatched == std::vector<std::uint32_t>{2000});
    CHECK(f.sink.events.empty());
    CHECK(f.pipeline.stats().selections_dropped == 1);
}

TEST_CASE("a shell spawned by a watched server is one exec alert with the full chain", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    f.pipeline.on_record(exec_record(b, 1000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE, "/usr/bin/python3.11",
                                     {"python3", "serve.py"}, 5'000));
    auto& fork = b.start<mw_fork_event>(MW_EVENT_PROCESS_FORK);
    fill_header(fork.hdr, 1000, 1, 1, 5'000);
    fork.child_pid = 1001;
    fork.child_start_time_ns = 9'000;
    f.pipeline.on_record(b.finish());
    f.pipeline.on_record(exec_record(b, 1001, 1000, 1, 0, "/bin/sh", {"/bin/sh", "-c", "id"}, 9'000));

    REQUIRE(f.sink.events.size() == 3);
    const auto& fork_ev = f.sink.events[1];
    CHECK(fork_ev.kind == EventKind::Event);
    CHECK(fork_ev.action == "fork");
    CHECK(fork_ev.pid == 1001);
    const auto& alert = f.sink.events[2];
    CHECK(alert.kind == EventKind::Alert);
    CHECK(alert.action == "exec");
    CHECK(alert.pid == 1001);
    CHECK(alert.executable == "/bin/sh");
    CHECK(alert.rule_id == rule_id(policy::RuleKind::exec_not_allowed));
    REQUIRE(!alert.ancestors.empty());
    CHECK(alert.ancestors[0] == 1000);
    CHECK(alert.root_pid == 1000);
    CHECK(alert.workload == "torch-test");
}

TEST_CASE("file and network records become exact alerts or telemetry", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    f.pipeline.on_record(exec_record(b, 1000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE, "/usr/bin/python3.11",
                                     {"python3", "serve.py"}, 5'000));
    auto open = [&](std::string_view path, std::uint32_t flags) {
        auto& ev = b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
        fill_header(ev.hdr, 1000, 1, 1, 5'000);
        ev.open_flags = flags;
        ev.result = 3;
        const auto p = b.add_string(path);
        b.body<mw_file_event>().path_len = p;
        f.pipeline.on_record(b.finish());
    };
    open("/etc/shadow", O_RDONLY);
    open("/usr/lib/python3/dist-packages/torch/__init__.py", O_RDONLY);
    open("/usr/lib/evil.so", O_WRONLY | O_CREAT);

    auto& conn = b.start<mw_net_event>(MW_EVENT_NET_CONNECT);
    fill_header(conn.hdr, 1000, 1, 1, 5'000);
    conn.remote.family = AF_INET;
    conn.remote.port = 4444;
    const std::uint32_t lo = htonl(INADDR_LOOPBACK);
    std::memcpy(conn.remote.addr, &lo, 4);
    conn.result = -111;
    f.pipeline.on_record(b.finish());

    REQUIRE(f.sink.events.size() == 5);
    CHECK(f.sink.events[1].kind == EventKind::Alert);
    CHECK(f.sink.events[1].rule_id == rule_id(policy::RuleKind::sensitive_file_access));
    CHECK(f.sink.events[1].file_path == "/etc/shadow");
    CHECK(f.sink.events[1].root_pid == 1000);
    CHECK(f.sink.events[2].kind == EventKind::Event);  // allowed read (audit-all style telemetry)
    CHECK(f.sink.events[3].kind == EventKind::Alert);
    CHECK(f.sink.events[3].rule_id == rule_id(policy::RuleKind::file_write_not_allowed));
    CHECK(f.sink.events[4].kind == EventKind::Alert);
    CHECK(f.sink.events[4].rule_id == rule_id(policy::RuleKind::egress_not_allowed));
    CHECK(f.sink.events[4].dport == 4444);
}

TEST_CASE("records of unwatched processes never become alerts", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    auto& ev = b.start<mw_syscall_event>(MW_EVENT_BPF_CALL);
    fill_header(ev.hdr, 3000, 1, 0, 7'000);
    ev.hdr.flags = MW_FLAG_HOST_WIDE;
    ev.syscall_nr = 321;
    f.pipeline.on_record(b.finish());
    REQUIRE(f.sink.events.size() == 1);
    CHECK(f.sink.events[0].kind == EventKind::Event);
    CHECK(f.sink.events[0].action == "bpf");
    CHECK(f.sink.events[0].rule_id.empty());
}

TEST_CASE("a corrupt record is counted and dropped", "[pipeline]") {
    Fixture f;
    std::array<std::uint64_t, 4> junk{};
    f.pipeline.on_record(std::as_bytes(std::span(junk)));
    CHECK(f.pipeline.stats().decode_errors == 1);
    CHECK(f.sink.events.empty());
}

TEST_CASE("records from a rejected provisional task are dropped, a confirmed one's kept", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    auto open = [&](std::uint32_t pid, std::uint64_t start) {
        auto& ev = b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
        fill_header(ev.hdr, pid, 1, MW_WORKLOAD_PENDING, start);
        ev.hdr.flags = MW_FLAG_PROVISIONAL;
        const auto p = b.add_string("/etc/shadow");
        b.body<mw_file_event>().path_len = p;
        f.pipeline.on_record(b.finish());
    };
    f.pipeline.on_record(exec_record(b, 2000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE,
                                     "/usr/bin/python3.11", {"python3", "notebook.py"}, 6'000));
    open(2000, 6'000);  // emitted before user space unmarked it
    CHECK(f.sink.events.empty());
    CHECK(f.pipeline.stats().provisional_dropped == 1);

    f.pipeline.on_record(exec_record(b, 1000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE,
                                     "/usr/bin/python3.11", {"python3", "serve.py"}, 5'000));
    open(1000, 5'000);
    REQUIRE(f.sink.events.size() == 2);
    CHECK(f.sink.events[1].kind == EventKind::Alert);
    CHECK(f.sink.events[1].rule_id == rule_id(policy::RuleKind::sensitive_file_access));
}

TEST_CASE("a child forked during the provisional window stays in the confirmed workload", "[pipeline]") {
    Fixture f;
    test::RecordBuilder b;
    f.pipeline.on_record(exec_record(b, 1000, 1, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE,
                                     "/usr/bin/python3.11", {"python3", "serve.py"}, 5'000));
    auto& fork = b.start<mw_fork_event>(MW_EVENT_PROCESS_FORK);
    fill_header(fork.hdr, 1000, 1, MW_WORKLOAD_PENDING, 5'000);
    fork.child_pid = 1001;
    fork.child_start_time_ns = 9'000;
    f.pipeline.on_record(b.finish());
    // The child execs a shell; the kernel still has it PENDING (inherited before confirmation).
    f.pipeline.on_record(exec_record(b, 1001, 1000, MW_WORKLOAD_PENDING, MW_FLAG_PROVISIONAL, "/usr/bin/dash",
                                     {"sh", "-c", "id"}, 9'000));
    CHECK(f.scope.watched[1001] == 1);  // re-marked with the confirmed workload
    REQUIRE(f.sink.events.size() == 3);
    CHECK(f.sink.events[2].kind == EventKind::Alert);
    CHECK(f.sink.events[2].rule_id == rule_id(policy::RuleKind::exec_not_allowed));
    CHECK(f.sink.events[2].root_pid == 1000);
}
