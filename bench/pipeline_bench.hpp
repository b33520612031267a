// What the pipeline benchmarks share (bench/foundation section 3a and bench/encoder's
// bench_pipeline): the workload policy, the synthetic kernel records, the timing and the
// allocation counter (bench/alloc_counter.cpp, linked into each of those executables).
#pragma once

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // flexible array members in the C ABI header
#include <modelwarden/events.h>
#include "pipeline/pipeline.hpp"
#include "policy/parser.hpp"
#include "process/process_table.hpp"
#include "record_builder.hpp"
#pragma GCC diagnostic pop

namespace mw::bench {

// Every global operator new while counting() is on (alloc_counter.cpp replaces them).
std::atomic<bool>& counting();
std::uint64_t allocations();

inline std::uint64_t now_ns(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The benchmark workload: reads allowed under allowed_dir, which is also its models dir.
inline std::string policy_text(const std::string& allowed_dir, bool audit_all) {
    return fmt::format(R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {{name: bench-workload, owner: bench}}
spec:
  mode: monitor
  audit_all: {}
  selector:
    executable: ["/nonexistent/mw-bench-workload"]
  process:
    exec: {{allow: [], action: alert}}
  files:
    read: {{allow: ["{}/**"], action: alert}}
    write: {{allow: ["/nonexistent/out/**"], action: alert}}
  models:
    dirs: ["{}"]
)",
                       audit_all ? "true" : "false", allowed_dir, allowed_dir);
}

inline std::optional<policy::PolicySet> parse_policy(const std::string& text) {
    auto report = policy::parse_policy_text(text, "bench-policy.yaml");
    if (!report.ok()) {
        for (const auto& d : report.errors) spdlog::error("bench: policy: {}", d.str());
        return std::nullopt;
    }
    return std::move(report.policies);
}

// The synthetic pipeline has no kernel to mark tasks in.
struct NullScope final : TaskScope {
    void watch(std::uint32_t, std::uint32_t) override {}
    void unwatch(std::uint32_t) override {}
};

// Synthetic pids: the table must never read the real /proc for them.
inline ProcessTableConfig table_config() {
    ProcessTableConfig tc;
    tc.proc_root = "/nonexistent-proc";
    tc.host_boot_key = "bench-host";
    return tc;
}

constexpr std::uint32_t kPid = 4242, kPpid = 4241;
constexpr std::uint64_t kStart = 1'000'000'000;

inline void fill_header(mw_event_header& h) {
    h.pid = kPid;
    h.tid = kPid;
    h.ppid = kPpid;
    h.workload_id = 1;
    h.start_time_ns = kStart;
    h.timestamp_ns = kStart + 5000;
    std::memcpy(h.comm, "python3", 8);
}

// The workload's exec (python3 serve.py), so the opens below have a known process.
inline void feed_exec(Pipeline& pipeline) {
    test::RecordBuilder b;
    auto& ev = b.start<mw_exec_event>(MW_EVENT_PROCESS_EXEC);
    fill_header(ev.hdr);
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

// 16 distinct open records (allowed model shards, or reads outside the allow list), stored
// 8-byte aligned as the ring buffer hands them out; the last word of each holds its size.
using Records = std::vector<std::vector<std::uint64_t>>;
inline Records open_records(bool alert, const std::string& allowed_dir) {
    test::RecordBuilder b;
    Records recs;
    for (int i = 0; i < 16; ++i) {
        auto& ev = b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
        fill_header(ev.hdr);
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

inline void feed(Pipeline& p, const Records& recs, int n) {
    for (int i = 0; i < n; ++i) {
        const auto& r = recs[static_cast<std::size_t>(i) & 15];
        p.on_record({reinterpret_cast<const std::byte*>(r.data()), static_cast<std::size_t>(r.back())});
    }
}

// One measured repetition: `events` records through the pipeline, CPU time of this thread.
struct Sample {
    double cpu_rate = 0, wall_rate = 0;
    std::uint64_t allocs = 0;
};
inline Sample measure(Pipeline& p, const Records& recs, int events) {
    const std::uint64_t a0 = allocations();
    const std::uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
    counting().store(true);
    feed(p, recs, events);
    counting().store(false);
    const std::uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
    return {events * 1e9 / static_cast<double>(c1 - c0), events * 1e9 / static_cast<double>(w1 - w0),
            allocations() - a0};
}

}  // namespace mw::bench
