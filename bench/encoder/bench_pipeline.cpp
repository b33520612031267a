// User-space pipeline throughput without the kernel (no root): the foundation benchmark's
// synthetic records -> decode -> process table -> policy -> ECS JSON -> JsonLinesWriter, with
// the encoder's per-process fragment cache on and off, interleaved, as medians of CPU time.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // flexible array members in the C ABI header
#include <modelwarden/events.h>
#include "output/ecs_encoder.hpp"
#include "output/host_info.hpp"
#include "output/json_lines_writer.hpp"
#include "pipeline/pipeline.hpp"
#include "policy/parser.hpp"
#include "process/process_table.hpp"
#include "record_builder.hpp"
#pragma GCC diagnostic pop

// ---- allocation counter: every global operator new, counted only while measuring ----------
// The replacements below are malloc/free on both sides, so GCC's new/delete pairing warning
// does not apply.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<std::uint64_t> g_allocs{0};
}  // namespace
void* operator new(std::size_t n) {
    if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace mw;

namespace {

std::uint64_t now_ns(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct NullScope final : TaskScope {
    void watch(std::uint32_t, std::uint32_t) override {}
    void unwatch(std::uint32_t) override {}
};

// What the daemon's EventRouter does for the JSON Lines destination: encode once, write.
struct EncodeAndWrite final : EventSink {
    const EcsEncoder& encoder;
    JsonLinesWriter& writer;
    json::JsonLine line;
    std::uint64_t events = 0, alerts = 0;
    EncodeAndWrite(const EcsEncoder& e, JsonLinesWriter& w) : encoder(e), writer(w) {}
    void emit(const SecurityEvent& event) override {
        ++(event.kind == EventKind::Alert ? alerts : events);
        encoder.encode(event, line);
        (void)writer.write(line.view(), event.kind != EventKind::Event);
    }
};

// The foundation benchmark's policy (bench/foundation): audit_all, reads allowed under the dir.
std::string policy_text(const std::string& allowed_dir) {
    return fmt::format(R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {{name: bench-workload, owner: bench}}
spec:
  mode: monitor
  audit_all: true
  selector:
    executable: ["/nonexistent/mw-bench-workload"]
  process:
    exec: {{allow: [], action: alert}}
  files:
    read: {{allow: ["{}/**"], action: alert}}
    write: {{allow: ["/nonexistent/out/**"], action: alert}}
)",
                       allowed_dir);
}

// One pipeline with its own table, encoder and writer, so the two configurations share nothing.
struct Rig {
    policy::PolicySet policies;
    ProcessTable table;
    NullScope scope;
    EcsEncoder encoder;
    std::unique_ptr<JsonLinesWriter> writer;
    std::unique_ptr<EncodeAndWrite> sink;
    std::unique_ptr<Pipeline> pipeline;

    static ProcessTableConfig table_config() {
        ProcessTableConfig tc;
        tc.proc_root = "/nonexistent-proc";  // synthetic pids: never read the real /proc
        tc.host_boot_key = "bench-host";
        return tc;
    }
    static EcsEncoderOptions encoder_options(bool cache) {
        EcsEncoderOptions o;
        o.cache_fragments = cache;
        return o;
    }

    Rig(policy::PolicySet set, const HostInfo& host, bool cache)
        : policies(std::move(set)),
          table(table_config()),
          encoder(host, make_agent_info(host, "bench"), encoder_options(cache)) {
        auto w = JsonLinesWriter::open({false, "/dev/null"});
        if (!w) throw std::runtime_error(w.error().message);
        writer = std::move(*w);
        sink = std::make_unique<EncodeAndWrite>(encoder, *writer);
        pipeline = std::make_unique<Pipeline>(table, scope, *sink);
        pipeline->set_policies(&policies);
        pipeline->set_clock_offset(host.boot_to_realtime_ns);
    }
};

constexpr std::uint32_t kPid = 4242, kPpid = 4241;
constexpr std::uint64_t kStart = 1'000'000'000;

void header(mw_event_header& h) {
    h.pid = kPid;
    h.tid = kPid;
    h.ppid = kPpid;
    h.workload_id = 1;
    h.start_time_ns = kStart;
    h.timestamp_ns = kStart + 5000;
    std::memcpy(h.comm, "python3", 8);
}

void exec_record(Pipeline& pipeline) {
    test::RecordBuilder b;
    auto& ev = b.start<mw_exec_event>(MW_EVENT_PROCESS_EXEC);
    header(ev.hdr);
    const auto f = b.add_string("/usr/bin/python3.11");
    const auto a = b.add_args({"python3", "serve.py", "--model", "/opt/models/resnet.pt"});
    const auto c = b.add_string("/srv/model");
    auto& body = b.body<mw_exec_event>();
    body.filename_len = f;
    body.args_len = a;
    body.cwd_len = c;
    body.argc = 4;
    pipeline.on_record(b.finish());
}

// 16 distinct open records, stored 8-byte aligned as the ring buffer hands them out; the last
// word of each holds its size.
std::vector<std::vector<std::uint64_t>> open_records(bool alert, const std::string& allowed_dir) {
    test::RecordBuilder b;
    std::vector<std::vector<std::uint64_t>> recs;
    for (int i = 0; i < 16; ++i) {
        auto& ev = b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
        header(ev.hdr);
        ev.hdr.timestamp_ns += static_cast<std::uint64_t>(i) * 1000;
        ev.result = 3;
        ev.open_flags = O_RDONLY | O_CLOEXEC;
        const std::string path = alert ? fmt::format("/etc/ssl/private/key-{:02}.pem", i)
                                       : fmt::format("{}/shard-{:05}-of-00016.safetensors", allowed_dir, i);
        b.body<mw_file_event>().path_len = b.add_string(path);
        auto bytes = b.finish();
        std::vector<std::uint64_t> store((bytes.size() + 7) / 8);
        std::memcpy(store.data(), bytes.data(), bytes.size());
        store.push_back(bytes.size());
        recs.push_back(std::move(store));
    }
    return recs;
}

void feed(Pipeline& p, const std::vector<std::vector<std::uint64_t>>& recs, int n) {
    for (int i = 0; i < n; ++i) {
        const auto& r = recs[static_cast<std::size_t>(i) & 15];
        p.on_record({reinterpret_cast<const std::byte*>(r.data()), static_cast<std::size_t>(r.back())});
    }
}

}  // namespace

int main(int argc, char** argv) {
    int events = 300'000, reps = 5;
    bool cached_only = false;
    CLI::App app{"modelwarden user-space pipeline throughput (no kernel, no root)"};
    app.add_option("--events", events, "records per repetition")->check(CLI::PositiveNumber);
    app.add_option("--reps", reps, "repetitions per configuration")->check(CLI::PositiveNumber);
    app.add_flag("--cached-only", cached_only, "measure only the fragment cache (for perf record)");
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::warn);

    const std::string allowed_dir = "/var/lib/mw-bench/models";
    auto report = policy::parse_policy_text(policy_text(allowed_dir), "bench-policy.yaml");
    if (!report.ok()) {
        for (const auto& d : report.errors) spdlog::error("bench: policy: {}", d.str());
        return 1;
    }
    const HostInfo host = gather_host_info();
    Rig cached(report.policies, host, true);
    Rig plain(report.policies, host, false);
    std::vector<Rig*> rigs{&cached};
    if (!cached_only) rigs.push_back(&plain);

    fmt::print("| events | fragment cache | median events/s (one core, CPU time) | wall events/s | allocations/event "
               "| line bytes |\n|---|---|---|---|---|---|\n");
    int failed = 0;
    for (bool alert : {false, true}) {
        const auto recs = open_records(alert, allowed_dir);
        struct Figures {
            std::vector<double> cpu, wall;
            std::uint64_t allocs = 0, total = 0, bytes0 = 0, lines0 = 0;
        };
        std::vector<Figures> fig(rigs.size());
        for (std::size_t k = 0; k < rigs.size(); ++k) {
            exec_record(*rigs[k]->pipeline);
            feed(*rigs[k]->pipeline, recs, 20'000);  // warm: buffers reach their final capacity
            (void)rigs[k]->writer->flush();
            fig[k].bytes0 = rigs[k]->writer->stats().bytes;
            fig[k].lines0 = rigs[k]->writer->stats().lines;
        }
        for (int rep = 0; rep < reps; ++rep) {
            for (std::size_t k = 0; k < rigs.size(); ++k) {  // interleaved: both see the same load
                const std::uint64_t a0 = g_allocs.load();
                const std::uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
                g_count_allocs.store(true);
                feed(*rigs[k]->pipeline, recs, events);
                g_count_allocs.store(false);
                const std::uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
                fig[k].allocs += g_allocs.load() - a0;
                fig[k].total += static_cast<std::uint64_t>(events);
                fig[k].cpu.push_back(events * 1e9 / static_cast<double>(c1 - c0));
                fig[k].wall.push_back(events * 1e9 / static_cast<double>(w1 - w0));
            }
        }
        for (std::size_t k = 0; k < rigs.size(); ++k) {
            auto& w = *rigs[k]->writer;
            (void)w.flush();
            const auto lines = w.stats().lines - fig[k].lines0;
            const double line_bytes = static_cast<double>(w.stats().bytes - fig[k].bytes0) / static_cast<double>(lines);
            fmt::print("| {} | {} | **{:.0f}** | {:.0f} | {:.4f} | {:.0f} |\n",
                       alert ? "alert (read outside allow list; flushed per line)" : "telemetry (allowed open, audit_all)",
                       rigs[k] == &cached ? "on" : "off", median(fig[k].cpu), median(fig[k].wall),
                       static_cast<double>(fig[k].allocs) / static_cast<double>(fig[k].total), line_bytes);
            if (lines != fig[k].total) {
                fmt::print("CHECK FAILED: {} lines written for {} records\n", lines, fig[k].total);
                ++failed;
            }
        }
    }
    return failed ? 1 : 0;
}
