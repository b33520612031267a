// Foundation benchmark (issue 2): the openat+close cost that no agent / modelwarden / auditd
// add to an unwatched and a watched process, measured interleaved in one run as ratios, and
// the user-space pipeline's throughput, allocations per event and losses at 100,000 events/s.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // flexible array members in the C ABI header
#include <modelwarden/events.h>
#include "daemon/event_router.hpp"
#include "daemon/kernel_policy.hpp"
#include "mw_bpf.skel.h"
#include "output/ecs_encoder.hpp"
#include "output/host_info.hpp"
#include "output/json_lines_writer.hpp"
#include "pipeline/pipeline.hpp"
#include "policy/compile.hpp"
#include "policy/parser.hpp"
#include "pipeline_bench.hpp"
#include "process/process_table.hpp"
#include "ring_buffer.hpp"
#include "sensors.hpp"
#pragma GCC diagnostic pop

namespace {

using namespace mw;

struct Options {
    int rounds = 5;
    int iterations = 100'000;        // openat+close per measurement
    int pipeline_events = 300'000;   // records per throughput repetition
    int pipeline_reps = 5;
    double sustained_seconds = 3.0;
    int sustained_rate = 100'000;
    bool auditd = true;
    bool quick = false;
    bool open_cache = true;          // the kernel's allowed-open verdict cache (sensors)
};

// Shared with bench/encoder's bench_pipeline (bench/pipeline_bench.hpp).
using bench::median;
using bench::now_ns;
using bench::NullScope;
using bench::parse_policy;
using bench::policy_text;

// Failed correctness checks (not missed targets): the exit code of the run.
int g_failed_checks = 0;
void check(bool ok, const std::string& what) {
    fmt::print("  check {}: {}\n", ok ? "ok    " : "FAILED", what);
    if (!ok) ++g_failed_checks;
}

// ---- shell helpers for auditctl ------------------------------------------------------------
struct Shell {
    int status = -1;
    std::string output;
};

Shell sh(const std::string& cmd) {
    Shell r;
    FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!f) {
        r.output = fmt::format("popen: {}", std::strerror(errno));
        return r;
    }
    char buf[512];
    while (std::fgets(buf, sizeof(buf), f)) r.output += buf;
    const int st = ::pclose(f);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
    return r;
}

// Audit rules equivalent to a modelwarden workload: report the workload's openat calls,
// except opens below the allowed directory (a `never` rule first: first match wins).
class AuditRules {
public:
    explicit AuditRules(std::string allowed_dir) : allowed_dir_(std::move(allowed_dir)) {}

    bool available(std::string& why) {
        Shell s = sh("auditctl -s");
        if (s.status != 0) {
            why = fmt::format("`auditctl -s` exited {}: {}", s.status, s.output);
            return false;
        }
        initially_enabled_ = s.output.find("enabled 1") != std::string::npos;
        Shell p = sh("pidof auditd");
        auditd_pid_ = p.status == 0 ? p.output : "";
        return true;
    }
    const std::string& auditd_pid() const { return auditd_pid_; }

    bool enable() { return run("auditctl -e 1"); }
    bool restore() { return run(fmt::format("auditctl -e {}", initially_enabled_ ? 1 : 0)); }

    bool add(pid_t pid) { return rules(pid, "-a"); }
    bool remove(pid_t pid) { return rules(pid, "-d"); }

    // SYSCALL records our key logged for pid (auditd writes asynchronously: wait for `expect`).
    std::optional<std::uint64_t> records_for(pid_t pid, std::uint64_t expect) const {
        std::optional<std::uint64_t> n;
        for (int i = 0; i < 20; ++i) {
            std::ifstream in("/var/log/audit/audit.log");
            if (!in) return std::nullopt;
            const std::string needle = fmt::format(" pid={} ", pid);
            std::uint64_t c = 0;
            for (std::string line; std::getline(in, line);)
                if (line.find("key=\"mw-bench\"") != std::string::npos && line.find(needle) != std::string::npos) ++c;
            n = c;
            if (c >= expect) break;
            ::usleep(100'000);
        }
        return n;
    }

private:
    bool rules(pid_t pid, const char* op) {
        return run(fmt::format("auditctl {} never,exit -F arch=b64 -S openat -F pid={} -F dir={} -k mw-bench", op, pid,
                               allowed_dir_)) &&
               run(fmt::format("auditctl {} always,exit -F arch=b64 -S openat -F pid={} -k mw-bench", op, pid));
    }
    bool run(const std::string& cmd) {
        Shell s = sh(cmd);
        if (s.status != 0) spdlog::error("bench: `{}` failed ({}): {}", cmd, s.status, s.output);
        return s.status == 0;
    }

    std::string allowed_dir_;
    bool initially_enabled_ = false;
    std::string auditd_pid_;
};

// ---- the openat+close loop in a forked child ----------------------------------------------
struct LoopTimes {
    double cpu_ns = 0;   // per openat+close, the child's own CPU time (user + kernel)
    double wall_ns = 0;
    std::uint64_t extra = 0;  // opens of `extra_path` done after the loop (verification runs)
    bool ok = false;
};

// The child waits until `setup(pid)` has marked it (or installed audit rules for it), then runs
// the loop; `extra_path` (if set) is opened once afterwards, a path the policy does not allow.
LoopTimes run_loop(const std::string& path, int iterations, const std::function<bool(pid_t)>& setup,
                   const std::string& extra_path = {}) {
    LoopTimes out;
    int go[2], result[2];
    if (::pipe(go) != 0 || ::pipe(result) != 0) {
        spdlog::error("bench: pipe: {}", std::strerror(errno));
        return out;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::error("bench: fork: {}", std::strerror(errno));
        return out;
    }
    if (pid == 0) {
        ::close(go[1]);
        ::close(result[0]);
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(2);
        LoopTimes t;
        const char* p = path.c_str();
        for (int i = 0; i < 2000; ++i) ::close(::open(p, O_RDONLY | O_CLOEXEC));  // warm dentry/file caches
        const std::uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
        for (int i = 0; i < iterations; ++i) {
            const int fd = ::open(p, O_RDONLY | O_CLOEXEC);
            if (fd < 0) ::_exit(3);
            ::close(fd);
        }
        const std::uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
        t.cpu_ns = static_cast<double>(c1 - c0) / iterations;
        t.wall_ns = static_cast<double>(w1 - w0) / iterations;
        if (!extra_path.empty()) {
            const int fd = ::open(extra_path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                ::close(fd);
                t.extra = 1;
            }
        }
        t.ok = true;
        if (::write(result[1], &t, sizeof(t)) != static_cast<ssize_t>(sizeof(t))) ::_exit(4);
        ::_exit(0);
    }
    ::close(go[0]);
    ::close(result[1]);
    const bool ready = setup ? setup(pid) : true;
    if (ready && ::write(go[1], "g", 1) != 1) spdlog::error("bench: go pipe: {}", std::strerror(errno));
    ::close(go[1]);  // without "g" the child exits at once
    if (ready && ::read(result[0], &out, sizeof(out)) != static_cast<ssize_t>(sizeof(out))) out.ok = false;
    ::close(result[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!ready || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        spdlog::error("bench: loop child {} failed (status {:#x})", pid, status);
        out.ok = false;
    }
    return out;
}

// ---- ring-buffer record counting, or feeding the pipeline -------------------------------
struct RecordTap {
    Pipeline* pipeline = nullptr;    // set: records go to the pipeline
    std::uint32_t pid = 0;           // counted: FILE_OPEN records of this pid
    std::uint64_t opens_of_pid = 0;
    std::uint64_t total = 0;

    void on_record(std::span<const std::byte> rec) {
        ++total;
        if (pipeline) pipeline->on_record(rec);
        if (rec.size() < sizeof(mw_event_header)) return;
        mw_event_header h;
        std::memcpy(&h, rec.data(), sizeof(h));
        if (h.type == MW_EVENT_FILE_OPEN && h.pid == pid) ++opens_of_pid;
    }
    void reset(std::uint32_t p) {
        pid = p;
        opens_of_pid = 0;
        total = 0;
    }
};

struct SensorScope final : TaskScope {
    sensors::Sensors& s;
    explicit SensorScope(sensors::Sensors& sensors) : s(sensors) {}
    void watch(std::uint32_t pid, std::uint32_t wl) override {
        mw_task_state st{};
        st.workload_id = wl;
        (void)s.mark_task(pid, st);
    }
    void unwatch(std::uint32_t pid) override { (void)s.unmark_task(pid); }
};

bool load_policy(sensors::Sensors& s, const policy::PolicySet& set) {
    auto compiled = policy::compile_policy_set(set);
    if (auto r = load_policy_maps(s, compiled, find_cgroup2_mount()); !r) {
        spdlog::error("bench: load_policy_maps: {}", r.error().message);
        return false;
    }
    return true;
}

std::string ratio_str(double r) { return r > 0 ? fmt::format("{:.3f}x", r) : "n/a"; }

// ---- 1, 2, 4: openat+close loops under none / modelwarden / auditd -----------------------
struct KernelLoops {
    sensors::Sensors& sensors;
    sensors::RingBufferReader& reader;
    RecordTap& tap;
    AuditRules* audit;   // null: auditd not available
    std::string allowed_file;
    std::string other_file;
    const Options& opt;

    bool attach() {
        if (auto r = sensors.attach(); !r) {
            spdlog::error("bench: attach: {}", r.error().message);
            return false;
        }
        return true;
    }
    void detach() { mw_bpf__detach(sensors.skeleton()); }

    auto marker() {
        return [this](pid_t pid) {
            mw_task_state st{};
            st.workload_id = 1;
            return static_cast<bool>(sensors.mark_task(static_cast<std::uint32_t>(pid), st));
        };
    }

    // Watched loop: counts the FILE_OPEN records the kernel sent for the child.
    LoopTimes watched(int iterations, std::uint64_t& records, const std::string& extra = {}) {
        (void)reader.drain();
        pid_t child = 0;
        auto mark = marker();
        LoopTimes t = run_loop(allowed_file, iterations, [&](pid_t pid) {
            child = pid;
            tap.reset(static_cast<std::uint32_t>(pid));
            return mark(pid);
        }, extra);
        (void)reader.drain();
        records = tap.opens_of_pid;
        (void)sensors.unmark_task(static_cast<std::uint32_t>(child));
        return t;
    }

    LoopTimes audited(int iterations, std::optional<std::uint64_t>& records, const std::string& extra = {}) {
        pid_t child = 0;
        LoopTimes t = run_loop(allowed_file, iterations, [&](pid_t pid) {
            child = pid;
            return audit->add(pid);
        }, extra);
        records = audit->records_for(child, t.extra);
        audit->remove(child);
        return t;
    }

    void verify() {
        fmt::print("\nverification (exact record counts, before measuring):\n");
        std::uint64_t recs = 0;
        LoopTimes t = watched(1000, recs, other_file);
        check(t.ok && t.extra == 1 && recs == 1,
              fmt::format("modelwarden: watched child, 1000 allowed opens + 1 disallowed open -> {} FILE_OPEN record(s) "
                          "(want exactly 1)", recs));
        (void)reader.drain();
        tap.reset(0);
        t = run_loop(other_file, 1000, nullptr);
        (void)reader.drain();
        check(t.ok && tap.total == 0,
              fmt::format("modelwarden: unwatched child, 1000 disallowed opens -> {} record(s) of any kind in our "
                          "ring buffer (want 0)", tap.total));
        if (!audit) return;
        detach();
        audit->enable();
        std::optional<std::uint64_t> arecs;
        t = audited(1000, arecs, other_file);
        if (arecs)
            check(t.ok && t.extra == 1 && *arecs == 1,
                  fmt::format("auditd: same rules, 1000 allowed opens + 1 disallowed open -> {} SYSCALL record(s) "
                              "in /var/log/audit/audit.log (want exactly 1)", *arecs));
        else
            fmt::print("  check skipped: /var/log/audit/audit.log not readable (auditd not running?)\n");
        audit->restore();
        attach();
    }

    struct Row {
        std::vector<double> base_cpu, base_wall;
        std::vector<double> cpu, wall, ratio_cpu, ratio_wall;
        std::uint64_t records = 0;   // records sent for allowed opens (watched configs)
        bool have_records = false;
    };

    void run() {
        Row base, mw_u, mw_w, au_u, au_w;
        verify();
        detach();
        const int n = opt.iterations;
        auto add = [](Row& row, const LoopTimes& t, const LoopTimes& b) {
            row.cpu.push_back(t.cpu_ns);
            row.wall.push_back(t.wall_ns);
            row.ratio_cpu.push_back(t.cpu_ns / b.cpu_ns);
            row.ratio_wall.push_back(t.wall_ns / b.wall_ns);
        };
        fmt::print("\nmeasuring: {} rounds x ({} openat+close per configuration), order alternates per round\n",
                   opt.rounds, n);
        for (int r = 0; r < opt.rounds; ++r) {
            for (int block = 0; block < 2; ++block) {
                const bool mw_block = (block == 0) == (r % 2 == 0);
                if (!mw_block && !audit) continue;
                LoopTimes b = run_loop(allowed_file, n, nullptr);  // no agent, no audit rules
                base.cpu.push_back(b.cpu_ns);
                base.wall.push_back(b.wall_ns);
                if (mw_block) {
                    if (!attach()) return;
                    LoopTimes u = run_loop(allowed_file, n, nullptr);
                    std::uint64_t recs = 0;
                    LoopTimes w = watched(n, recs);
                    detach();
                    add(mw_u, u, b);
                    add(mw_w, w, b);
                    mw_w.records += recs;
                    mw_w.have_records = true;
                    if (!u.ok || !w.ok) ++g_failed_checks;
                } else {
                    audit->enable();
                    // Rules for another process (this idle bench process): what every other
                    // process on the host pays once auditd has syscall rules loaded.
                    audit->add(::getpid());
                    LoopTimes u = run_loop(allowed_file, n, nullptr);
                    audit->remove(::getpid());
                    std::optional<std::uint64_t> recs;
                    LoopTimes w = audited(n, recs);
                    audit->restore();
                    add(au_u, u, b);
                    add(au_w, w, b);
                    if (recs) {
                        au_w.records += *recs;
                        au_w.have_records = true;
                    }
                    if (!u.ok || !w.ok) ++g_failed_checks;
                }
            }
            fmt::print("  round {} done\n", r + 1);
        }
        attach();
        check(mw_w.records == 0, fmt::format("modelwarden: {} FILE_OPEN records sent for {} allowed opens of the watched "
                                             "loops (want 0)", mw_w.records, static_cast<long>(n) * opt.rounds));
        if (au_w.have_records)
            check(au_w.records == 0, fmt::format("auditd: {} SYSCALL records for the allowed opens (want 0)", au_w.records));

        fmt::print("\n### openat+close loop (median of {} rounds; ratio = median of per-round ratios to the adjacent "
                   "no-agent run)\n\n",
                   opt.rounds);
        fmt::print("| process | none (CPU ns/op) | modelwarden | auditd | target |\n|---|---|---|---|---|\n");
        auto cell = [&](const Row& row) {
            if (row.cpu.empty()) return std::string("n/a (auditd unavailable)");
            return fmt::format("{:.0f} ns, **{}** (wall {})", median(row.cpu), ratio_str(median(row.ratio_cpu)),
                               ratio_str(median(row.ratio_wall)));
        };
        fmt::print("| unwatched | {:.0f} ns | {} | {} | <= 1.02x |\n", median(base.cpu), cell(mw_u), cell(au_u));
        fmt::print("| watched, allowed files | {:.0f} ns | {} | {} | <= 1.15x |\n", median(base.cpu), cell(mw_w),
                   cell(au_w));
        fmt::print("\nrecords sent to user space for the watched loops' allowed opens: modelwarden {}, auditd {}\n",
                   mw_w.records, au_w.have_records ? std::to_string(au_w.records) : std::string("n/a"));
        auto spread = [](const std::vector<double>& v) {
            if (v.empty()) return std::string("n/a");
            return fmt::format("{:.3f}..{:.3f}", *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
        };
        fmt::print("per-round CPU ratio range: mw unwatched {}, mw watched {}, auditd unwatched {}, auditd watched {}\n",
                   spread(mw_u.ratio_cpu), spread(mw_w.ratio_cpu), spread(au_u.ratio_cpu), spread(au_w.ratio_cpu));
    }
};

// ---- 3a: pipeline throughput, one core, synthetic records built as the kernel lays them out --
void pipeline_throughput(const Options& opt, const std::string& allowed_dir, const std::string& paced_out) {
    auto policies = parse_policy(policy_text(allowed_dir, true));
    if (!policies) {
        ++g_failed_checks;
        return;
    }
    ProcessTable table(bench::table_config());
    NullScope scope;
    HostInfo host = gather_host_info();
    EcsEncoder encoder(host, make_agent_info(host, "bench"));
    auto writer = JsonLinesWriter::open({false, "/dev/null"});
    if (!writer) {
        spdlog::error("bench: {}", writer.error().message);
        ++g_failed_checks;
        return;
    }
    EventRouter router(encoder, writer->get(), nullptr);
    Pipeline pipeline(table, scope, router);
    pipeline.set_policies(&*policies);
    pipeline.set_clock_offset(host.boot_to_realtime_ns);

    bench::feed_exec(pipeline);

    fmt::print("\n### user-space pipeline: record bytes -> decode -> process table -> policy -> ECS JSON -> "
               "JsonLinesWriter (/dev/null)\n\n");
    fmt::print("| events | median events/s (one core, CPU time) | wall events/s | allocations/event | line bytes | "
               "target |\n|---|---|---|---|---|---|\n");
    for (bool alert : {false, true}) {
        const auto recs = bench::open_records(alert, allowed_dir);
        bench::feed(pipeline, recs, 20'000);  // warm: buffers reach their final capacity
        std::vector<double> cpu_rate, wall_rate;
        std::uint64_t allocs = 0, total = 0;
        const auto ev0 = router.stats().events, al0 = router.stats().alerts, lines0 = (*writer)->stats().lines;
        const auto bytes0 = (*writer)->stats().bytes;
        for (int rep = 0; rep < opt.pipeline_reps; ++rep) {
            const auto sample = bench::measure(pipeline, recs, opt.pipeline_events);
            allocs += sample.allocs;
            total += static_cast<std::uint64_t>(opt.pipeline_events);
            cpu_rate.push_back(sample.cpu_rate);
            wall_rate.push_back(sample.wall_rate);
        }
        (void)(*writer)->flush();
        const auto events = router.stats().events - ev0, alerts = router.stats().alerts - al0;
        const auto lines = (*writer)->stats().lines - lines0;
        const double line_bytes = static_cast<double>((*writer)->stats().bytes - bytes0) / static_cast<double>(lines);
        fmt::print("| {} | **{:.0f}** | {:.0f} | {:.4f} | {:.0f} | >= 1,000,000/s, 0 allocations |\n",
                   alert ? "alert (file read outside allow list; flushed per line)" : "telemetry (allowed open, audit_all)",
                   median(cpu_rate), median(wall_rate), static_cast<double>(allocs) / static_cast<double>(total),
                   line_bytes);
        check((alert ? alerts : events) == total && (alert ? events : alerts) == 0 && lines == total,
              fmt::format("{}: {} records in -> {} events, {} alerts, {} lines written (want {} {})",
                          alert ? "alert" : "telemetry", total, events, alerts, lines, total, alert ? "alerts" : "events"));
    }
    fmt::print("pipeline: decode errors {}, unattributed {}\n", pipeline.stats().decode_errors, pipeline.stats().unattributed);

    // ---- 3b: a producer thread paced at --sustained-rate hands the same real records to the
    // event loop through a bounded queue as big as the kernel's ring buffer (16 MiB of 256-byte
    // slots); a full queue is a drop, exactly where the kernel would count one. The loop runs the
    // pipeline into a JSON Lines file whose lines are counted afterwards.
    auto file_writer = JsonLinesWriter::open({false, paced_out});
    if (!file_writer) {
        spdlog::error("bench: {}", file_writer.error().message);
        ++g_failed_checks;
        return;
    }
    EventRouter file_router(encoder, file_writer->get(), nullptr);
    Pipeline paced(table, scope, file_router);
    paced.set_policies(&*policies);
    paced.set_clock_offset(host.boot_to_realtime_ns);
    const auto recs = bench::open_records(false, allowed_dir);
    constexpr std::size_t kSlotWords = 32;                       // 256 bytes
    const std::size_t capacity = (16u << 20) / (kSlotWords * 8);  // 65,536 records
    std::vector<std::uint64_t> slots(capacity * kSlotWords);
    std::vector<std::uint16_t> sizes(capacity);
    alignas(64) std::atomic<std::uint64_t> head{0};
    alignas(64) std::atomic<std::uint64_t> tail{0};
    std::atomic<bool> done{false};
    const std::uint64_t total = static_cast<std::uint64_t>(opt.sustained_rate * opt.sustained_seconds);
    const std::uint64_t per_ms = static_cast<std::uint64_t>(opt.sustained_rate) / 1000;
    std::uint64_t produced = 0, dropped = 0, late = 0, producer_ns = 0;
    std::thread producer([&] {
        const std::uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        for (std::uint64_t batch = 0; produced + dropped < total; ++batch) {
            const std::uint64_t deadline = t0 + batch * 1'000'000;
            timespec ts{static_cast<time_t>(deadline / 1'000'000'000), static_cast<long>(deadline % 1'000'000'000)};
            ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
            if (now_ns(CLOCK_MONOTONIC) > deadline + 1'000'000) ++late;
            for (std::uint64_t i = 0; i < per_ms && produced + dropped < total; ++i) {
                const std::uint64_t h = head.load(std::memory_order_relaxed);
                if (h - tail.load(std::memory_order_acquire) == capacity) {
                    ++dropped;
                    continue;
                }
                const auto& r = recs[(produced + dropped) & 15];
                std::uint64_t* slot = &slots[(h % capacity) * kSlotWords];
                std::memcpy(slot, r.data(), static_cast<std::size_t>(r.back()));
                sizes[h % capacity] = static_cast<std::uint16_t>(r.back());
                head.store(h + 1, std::memory_order_release);
                ++produced;
            }
        }
        producer_ns = now_ns(CLOCK_MONOTONIC) - t0;
        done.store(true, std::memory_order_release);
    });
    std::uint64_t consumed = 0;
    for (;;) {
        const bool finished = done.load(std::memory_order_acquire);
        const std::uint64_t h = head.load(std::memory_order_acquire);
        std::uint64_t t = tail.load(std::memory_order_relaxed);
        if (t == h) {
            if (finished) break;
            (void)(*file_writer)->tick();
            ::usleep(100);  // the event loop's wait for the next ring-buffer wake-up
            continue;
        }
        for (; t != h; ++t, ++consumed) {
            paced.on_record({reinterpret_cast<const std::byte*>(&slots[(t % capacity) * kSlotWords]), sizes[t % capacity]});
            tail.store(t + 1, std::memory_order_release);
        }
    }
    producer.join();
    (void)(*file_writer)->flush();
    std::uint64_t lines = 0, open_lines = 0;
    {
        std::ifstream in(paced_out);
        for (std::string line; std::getline(in, line);) {
            ++lines;
            if (line.find("\"pid\":4242,") != std::string::npos && line.find(allowed_dir) != std::string::npos) ++open_lines;
        }
    }
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(paced_out, ec);
    ::unlink(paced_out.c_str());
    const double rate = producer_ns ? static_cast<double>(produced + dropped) * 1e9 / static_cast<double>(producer_ns) : 0;
    fmt::print("\n### user-space pipeline at a sustained {} events/s for {:.1f} s (paced producer thread -> bounded "
               "queue of {} records -> pipeline -> JSONL file)\n\n",
               opt.sustained_rate, opt.sustained_seconds, capacity);
    fmt::print("| records offered | achieved rate | dropped (queue full) | consumed | JSON lines for them | file size "
               "|\n|---|---|---|---|---|---|\n");
    fmt::print("| {} | {:.0f}/s ({} late 1 ms batches) | **{}** | {} | {} | {:.0f} MB |\n", produced + dropped, rate, late, dropped,
               consumed, open_lines, static_cast<double>(file_bytes) / 1e6);
    fmt::print("(target: 0 dropped; a drop here means the event loop fell behind by a whole ring buffer)\n");
    check(consumed == produced && open_lines == produced && lines == produced,
          fmt::format("every accepted record became exactly one line: {} accepted, {} consumed, {} lines ({} for the "
                      "records)",
                      produced, consumed, lines, open_lines));
}

// ---- 3b: sustained rate: a paced watched process -> kernel -> ring buffer -> pipeline -> file --
void sustained(const Options& opt, sensors::Sensors& sensors, sensors::RingBufferReader& reader, RecordTap& tap,
               boost::asio::io_context& io, const std::string& allowed_dir, const std::string& allowed_file,
               const std::string& out_path) {
    auto policies = parse_policy(policy_text(allowed_dir, true));  // audit_all: allowed opens are sent too
    if (!policies || !load_policy(sensors, *policies)) {
        ++g_failed_checks;
        return;
    }
    ProcessTable table;
    SensorScope scope(sensors);
    HostInfo host = gather_host_info();
    EcsEncoder encoder(host, make_agent_info(host, "bench"));
    ::unlink(out_path.c_str());
    auto writer = JsonLinesWriter::open({false, out_path});
    if (!writer) {
        spdlog::error("bench: {}", writer.error().message);
        ++g_failed_checks;
        return;
    }
    EventRouter router(encoder, writer->get(), nullptr);
    Pipeline pipeline(table, scope, router);
    pipeline.set_policies(&*policies);
    pipeline.set_clock_offset(host.boot_to_realtime_ns);

    auto drops0 = sensors.read_drop_counters();
    (void)reader.drain();
    tap.pipeline = &pipeline;

    struct Produced {
        std::uint64_t opens = 0;
        std::uint64_t elapsed_ns = 0;
        std::uint64_t late_batches = 0;  // 1 ms batches started more than 1 ms late (producer starved)
    };
    int go[2], result[2];
    if (::pipe(go) != 0 || ::pipe(result) != 0) {
        ++g_failed_checks;
        return;
    }
    const std::uint64_t total = static_cast<std::uint64_t>(opt.sustained_rate * opt.sustained_seconds);
    const std::uint64_t per_ms = static_cast<std::uint64_t>(opt.sustained_rate) / 1000;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(go[1]);
        ::close(result[0]);
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(2);
        Produced p;
        const std::uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        // One batch per millisecond at absolute deadlines: a late batch does not lower the rate.
        for (std::uint64_t batch = 0; p.opens < total; ++batch) {
            const std::uint64_t deadline = t0 + batch * 1'000'000;
            timespec ts{static_cast<time_t>(deadline / 1'000'000'000), static_cast<long>(deadline % 1'000'000'000)};
            ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
            if (now_ns(CLOCK_MONOTONIC) > deadline + 1'000'000) ++p.late_batches;
            for (std::uint64_t i = 0; i < per_ms && p.opens < total; ++i) {
                const int fd = ::open(allowed_file.c_str(), O_RDONLY | O_CLOEXEC);
                if (fd < 0) ::_exit(3);
                ::close(fd);
                ++p.opens;
            }
        }
        p.elapsed_ns = now_ns(CLOCK_MONOTONIC) - t0;
        if (::write(result[1], &p, sizeof(p)) != static_cast<ssize_t>(sizeof(p))) ::_exit(4);
        ::_exit(0);
    }
    ::close(go[0]);
    ::close(result[1]);
    tap.reset(static_cast<std::uint32_t>(pid));
    mw_task_state st{};
    st.workload_id = 1;
    const bool marked = static_cast<bool>(sensors.mark_task(static_cast<std::uint32_t>(pid), st));
    reader.start();
    if (marked) (void)!::write(go[1], "g", 1);
    ::close(go[1]);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
        (void)(*writer)->tick();
    }
    Produced p;
    const bool got = ::read(result[0], &p, sizeof(p)) == static_cast<ssize_t>(sizeof(p));
    ::close(result[0]);
    reader.stop();
    io.restart();
    io.poll();
    (void)reader.drain();
    (void)(*writer)->flush();
    tap.pipeline = nullptr;
    (void)sensors.unmark_task(static_cast<std::uint32_t>(pid));

    auto drops1 = sensors.read_drop_counters();
    const std::uint64_t kernel_drops = drops0 && drops1 ? drops1->total() - drops0->total() : ~0ull;

    // Count every line of the file, and those for the producer's opens (path + pid).
    std::uint64_t lines = 0, open_lines = 0;
    {
        std::ifstream in(out_path);
        const std::string path_needle = fmt::format("\"{}\"", allowed_file);
        const std::string pid_needle = fmt::format("\"pid\":{},", pid);
        for (std::string line; std::getline(in, line);) {
            ++lines;
            if (line.find(path_needle) != std::string::npos && line.find(pid_needle) != std::string::npos) ++open_lines;
        }
    }
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(out_path, ec);
    ::unlink(out_path.c_str());

    const double rate = got && p.elapsed_ns ? static_cast<double>(p.opens) * 1e9 / static_cast<double>(p.elapsed_ns) : 0;
    fmt::print("\n### end to end, producer paced at {} opens/s for {:.1f} s: watched process -> kernel (audit_all) "
               "-> ring buffer -> pipeline -> JSONL file\n\n",
               opt.sustained_rate, opt.sustained_seconds);
    fmt::print("| opens done | achieved rate | FILE_OPEN records read | JSON lines for them | all lines | kernel drops | "
               "writer drops | file size |\n|---|---|---|---|---|---|---|---|\n");
    fmt::print("| {} | {:.0f}/s ({} late 1 ms batches) | {} | {} | {} | {} | {} | {:.0f} MB |\n", p.opens, rate,
               p.late_batches, tap.opens_of_pid, open_lines, lines, kernel_drops, (*writer)->stats().lines_dropped,
               static_cast<double>(file_bytes) / 1e6);
    check(got && WIFEXITED(status) && WEXITSTATUS(status) == 0, "producer ran to completion");
    check(kernel_drops == 0, fmt::format("{} kernel-side drops (ring buffer full / scratch / pending)", kernel_drops));
    check(tap.opens_of_pid == p.opens && open_lines == p.opens,
          fmt::format("every open reached the file: {} opens, {} records, {} lines", p.opens, tap.opens_of_pid, open_lines));
    check(pipeline.stats().decode_errors == 0 && router.stats().write_errors == 0,
          fmt::format("decode errors {}, write errors {}", pipeline.stats().decode_errors, router.stats().write_errors));
}

// ---- the kernel part: sensors loaded in this process, loops in forked children -------------
// Returns false when the sensors cannot be loaded here (the reason is printed).
bool kernel_benchmarks(const Options& opt, const std::string& allowed_dir, const std::string& allowed_file,
                       const std::string& other_file, const std::string& out_path) {
    auto fail = [](std::string_view what, const Error& e) {
        fmt::print("\nkernel benchmarks NOT RUN: {}: {}\n", what, e.message);
        return false;
    };
    auto s = sensors::Sensors::open();
    if (!s) return fail("sensors open", s.error());
    sensors::Sensors sensors = std::move(*s);
    sensors::SensorConfig config;
    config.open_cache = opt.open_cache;
    if (auto r = sensors.configure(config); !r) return fail("sensors configure", r.error());
    if (auto r = sensors.load(); !r) return fail("sensors load", r.error());
    if (auto r = sensors.attach(); !r) return fail("sensors attach", r.error());
    fmt::print("\nopen-verdict cache: {}\n", sensors.open_cache_active() ? "active" : "off");
    auto policies = parse_policy(policy_text(allowed_dir, false));
    if (!policies || !load_policy(sensors, *policies)) {
        fmt::print("\nkernel benchmarks NOT RUN: the policy did not load into the maps\n");
        return false;
    }

    boost::asio::io_context io;
    RecordTap tap;
    auto reader = sensors::RingBufferReader::create(io, sensors.events_map_fd(),
                                                    [&tap](std::span<const std::byte> rec) { tap.on_record(rec); });
    if (!reader) return fail("ring buffer", reader.error());

    std::optional<AuditRules> audit;
    std::string why = "--no-auditd";
    if (opt.auditd) {
        audit.emplace(allowed_dir);
        if (!audit->available(why)) audit.reset();
    }
    fmt::print("\nauditd: {}\n", audit ? fmt::format("auditctl usable; auditd daemon pid {}",
                                                     audit->auditd_pid().empty() ? "none (records go to the kernel log)"
                                                                                 : audit->auditd_pid())
                                       : "unavailable: " + why);

    KernelLoops loops{sensors, **reader, tap, audit ? &*audit : nullptr, allowed_file, other_file, opt};
    loops.run();
    sustained(opt, sensors, **reader, tap, io, allowed_dir, allowed_file, out_path);
    reader->reset();  // before the Sensors: libbpf's ring buffer references the map
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    CLI::App app{"modelwarden foundation benchmark (root): openat+close overhead and pipeline throughput"};
    app.add_option("--rounds", opt.rounds, "interleaved rounds of the openat+close loops")->check(CLI::Range(1, 100));
    app.add_option("--iterations", opt.iterations, "openat+close per measurement")->check(CLI::Range(1000, 100'000'000));
    app.add_option("--pipeline-events", opt.pipeline_events, "records per throughput repetition")
        ->check(CLI::Range(1000, 100'000'000));
    app.add_option("--sustained-seconds", opt.sustained_seconds, "duration of the paced run")->check(CLI::Range(0.1, 600.0));
    app.add_option("--sustained-rate", opt.sustained_rate, "events/s of the paced run")->check(CLI::Range(1000, 10'000'000));
    bool no_auditd = false, no_open_cache = false;
    app.add_flag("--no-auditd", no_auditd, "skip the auditd comparison");
    app.add_flag("--no-open-cache", no_open_cache, "sensors without the allowed-open verdict cache (for comparison)");
    app.add_flag("--quick", opt.quick, "a short run for the smoke test (checks only, figures meaningless)");
    CLI11_PARSE(app, argc, argv);
    opt.auditd = !no_auditd;
    opt.open_cache = !no_open_cache;
    if (opt.quick) {
        opt.rounds = 1;
        opt.iterations = 5000;
        opt.pipeline_events = 20'000;
        opt.pipeline_reps = 1;
        opt.sustained_seconds = 0.3;
    }
    spdlog::set_level(spdlog::level::warn);
    if (::geteuid() != 0) {
        fmt::print(stderr, "bench_foundation: needs root (loads BPF programs, sets audit rules)\n");
        return 2;
    }

    char tmpl[] = "/tmp/mw-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        fmt::print(stderr, "bench: mkdtemp: {}\n", std::strerror(errno));
        return 2;
    }
    const std::string dir = std::filesystem::canonical(tmpl).string();
    const std::string allowed_dir = dir + "/models";
    const std::string allowed_file = allowed_dir + "/model.safetensors";
    const std::string other_file = dir + "/not-allowed.bin";
    std::filesystem::create_directory(allowed_dir);
    ::close(::open(allowed_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ::close(::open(other_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

    fmt::print("## modelwarden foundation benchmark\n\nkernel {}; {} online CPUs; files under {}\n",
               sh("uname -r").output, ::sysconf(_SC_NPROCESSORS_ONLN), dir);
    fmt::print("other BPF programs on sys_enter/exit_openat tracepoints before loading ours: {}\n",
               sh("bpftool perf list 2>/dev/null | grep -c 'sys_.*_openat'").output);

    // User space first: it needs no kernel support, so its figures exist even when the
    // sensors cannot load here.
    pipeline_throughput(opt, allowed_dir, dir + "/paced.jsonl");
    const bool kernel_ran = kernel_benchmarks(opt, allowed_dir, allowed_file, other_file, dir + "/events.jsonl");
    std::filesystem::remove_all(dir);
    fmt::print("\n{} failed check(s){}\n", g_failed_checks, kernel_ran ? "" : "; the kernel benchmarks did not run");
    if (!kernel_ran) return 2;
    return g_failed_checks ? 1 : 0;
}
