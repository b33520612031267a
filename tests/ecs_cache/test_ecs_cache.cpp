// The encoder caches each process's rendered JSON by Process::revision: kernel records through
// the real pipeline and process table must still show an exec, a setuid and a re-used pid in
// the next event, and every cached line must equal the line rendered without the cache.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "fixtures.hpp"
#include "pipeline/pipeline.hpp"
#include "process/process_table.hpp"
#include "record_builder.hpp"

using namespace mw;
using Json = nlohmann::json;

namespace {

struct NoScope final : TaskScope {
    void watch(std::uint32_t, std::uint32_t) override {}
    void unwatch(std::uint32_t) override {}
};

// Encodes every event twice: with the fragment cache and without it.
struct TwoEncoders final : EventSink {
    EcsEncoder cached = encoder(true);
    EcsEncoder uncached = encoder(false);
    json::JsonLine line;
    std::vector<std::string> cached_lines, uncached_lines;

    static EcsEncoder encoder(bool cache) {
        EcsEncoderOptions o;
        o.clock = test::fixed_clock;
        o.cache_fragments = cache;
        return EcsEncoder(test::fixed_host(), test::fixed_agent(), o);
    }
    void emit(const SecurityEvent& e) override {
        cached.encode(e, line);
        cached_lines.emplace_back(line.view());
        uncached.encode(e, line);
        uncached_lines.emplace_back(line.view());
    }
    Json last() const { return Json::parse(cached_lines.back()); }
};

struct Rig {
    ProcessTable table{config()};
    NoScope scope;
    TwoEncoders sink;
    Pipeline pipeline{table, scope, sink};
    test::RecordBuilder b;

    static ProcessTableConfig config() {
        ProcessTableConfig c;
        c.proc_root = "/nonexistent-proc";  // synthetic pids only
        c.host_boot_key = "ecs-cache-test";
        return c;
    }

    static void header(mw_event_header& h, std::uint32_t pid, std::uint64_t start, std::uint32_t uid) {
        h.pid = pid;
        h.tid = pid;
        h.ppid = 1;
        h.start_time_ns = start;
        h.timestamp_ns = start + 1000;
        h.uid = uid;
        h.gid = uid;
        std::memcpy(h.comm, "task", 5);
    }

    void exec(std::uint32_t pid, std::uint64_t start, std::uint32_t uid, std::string_view exe,
              std::initializer_list<std::string_view> args) {
        auto& ev = b.start<mw_exec_event>(MW_EVENT_PROCESS_EXEC);
        header(ev.hdr, pid, start, uid);
        const auto f = b.add_string(exe);
        const auto a = b.add_args(args);
        const auto c = b.add_string("/srv");
        auto& body = b.body<mw_exec_event>();
        body.filename_len = f;
        body.args_len = a;
        body.cwd_len = c;
        body.argc = static_cast<std::uint16_t>(args.size());
        pipeline.on_record(b.finish());
    }

    void open(std::uint32_t pid, std::uint64_t start, std::uint32_t uid, std::string_view path) {
        auto& ev = b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
        header(ev.hdr, pid, start, uid);
        ev.result = 3;
        ev.open_flags = O_RDONLY;
        b.body<mw_file_event>().path_len = b.add_string(path);
        pipeline.on_record(b.finish());
    }

    void exit(std::uint32_t pid, std::uint64_t start) {
        auto& ev = b.start<mw_exit_event>(MW_EVENT_PROCESS_EXIT);
        header(ev.hdr, pid, start, 0);
        ev.exit_code = 0;
        pipeline.on_record(b.finish());
    }

    void require_identical() const {
        REQUIRE(sink.cached_lines.size() == sink.uncached_lines.size());
        for (std::size_t i = 0; i < sink.cached_lines.size(); ++i) {
            INFO("event " << i);
            REQUIRE(sink.cached_lines[i] == sink.uncached_lines[i]);
        }
    }
};

constexpr std::uint32_t kPid = 4242;
constexpr std::uint64_t kStart = 5'000'000'000;

}  // namespace

TEST_CASE("an exec changes process.executable, name and args in the next event", "[ecs_cache]") {
    Rig r;
    r.exec(kPid, kStart, 1000, "/usr/bin/python3.11", {"python3", "serve.py"});
    r.open(kPid, kStart, 1000, "/opt/models/a.pt");
    Json before = r.sink.last();
    REQUIRE(before["process"]["executable"] == "/usr/bin/python3.11");
    REQUIRE(before["process"]["command_line"] == "python3 serve.py");
    REQUIRE(before["process"]["args_count"] == 2);

    r.exec(kPid, kStart, 1000, "/usr/bin/dash", {"sh", "-c", "id"});
    r.open(kPid, kStart, 1000, "/etc/passwd");
    Json after = r.sink.last();
    REQUIRE(after["process"]["executable"] == "/usr/bin/dash");
    REQUIRE(after["process"]["args"] == Json::array({"sh", "-c", "id"}));
    REQUIRE(after["process"]["command_line"] == "sh -c id");
    REQUIRE(after["process"]["args_count"] == 3);
    REQUIRE(after["process"]["name"] == "task");
    // Same process (pid and start time): same entity id before and after the exec.
    REQUIRE(after["process"]["entity_id"] == before["process"]["entity_id"]);
    REQUIRE(r.sink.cached_lines.size() == 4);
    r.require_identical();
}

TEST_CASE("a setuid changes user.id and group.id in the next event", "[ecs_cache]") {
    Rig r;
    r.exec(kPid, kStart, 1000, "/usr/bin/python3.11", {"python3"});
    r.open(kPid, kStart, 1000, "/opt/models/a.pt");
    Json before = r.sink.last();
    REQUIRE(before["user"]["id"] == "1000");
    REQUIRE(before["group"]["id"] == "1000");
    REQUIRE(before["process"]["user"]["id"] == "1000");

    r.open(kPid, kStart, 0, "/etc/shadow");  // the record now carries uid/gid 0
    Json after = r.sink.last();
    REQUIRE(after["user"]["id"] == "0");
    REQUIRE(after["group"]["id"] == "0");
    REQUIRE(after["process"]["user"]["id"] == "0");
    REQUIRE(after["process"]["group"]["id"] == "0");
    REQUIRE(after["process"]["executable"] == "/usr/bin/python3.11");

    r.open(kPid, kStart, 0, "/etc/shadow");  // unchanged creds: still 0 (from the cache)
    REQUIRE(r.sink.last()["user"]["id"] == "0");
    r.require_identical();
}

TEST_CASE("a re-used pid gets its new identity, not the cached one", "[ecs_cache]") {
    Rig r;
    r.exec(kPid, kStart, 1000, "/usr/bin/python3.11", {"python3", "serve.py"});
    r.open(kPid, kStart, 1000, "/opt/models/a.pt");
    Json old_proc = r.sink.last()["process"];
    r.exit(kPid, kStart);
    Json exited = r.sink.last()["process"];
    REQUIRE(exited["exit_code"] == 0);
    REQUIRE(exited.contains("end"));

    const std::uint64_t later = kStart + 7'000'000'000;
    r.exec(kPid, later, 33, "/usr/bin/curl", {"curl", "http://127.0.0.1/"});
    r.open(kPid, later, 33, "/etc/hosts");
    Json fresh = r.sink.last()["process"];
    REQUIRE(fresh["pid"] == kPid);
    REQUIRE(fresh["executable"] == "/usr/bin/curl");
    REQUIRE(fresh["args"] == Json::array({"curl", "http://127.0.0.1/"}));
    REQUIRE(fresh["user"]["id"] == "33");
    REQUIRE(fresh["entity_id"] != old_proc["entity_id"]);
    REQUIRE(fresh["start"] == "2025-11-21T04:40:12.000000000Z");  // boot 04:40:00 + 12 s
    REQUIRE(old_proc["start"] == "2025-11-21T04:40:05.000000000Z");
    REQUIRE_FALSE(fresh.contains("exit_code"));
    REQUIRE_FALSE(fresh.contains("end"));
    r.require_identical();
}

TEST_CASE("processes not from a table (revision 0) are rendered afresh after every change", "[ecs_cache]") {
    test::World w;
    EcsEncoder enc = TwoEncoders::encoder(true);
    json::JsonLine line;
    SecurityEvent ev = w.open_event();
    enc.encode(ev, line);
    REQUIRE(Json::parse(line.view())["process"]["executable"] == "/usr/bin/python3.11");
    w.server.executable = "/usr/bin/python3.12";
    w.server.uid = 0;
    enc.encode(ev, line);
    Json doc = Json::parse(line.view());
    REQUIRE(doc["process"]["executable"] == "/usr/bin/python3.12");
    REQUIRE(doc["user"]["id"] == "0");
}
