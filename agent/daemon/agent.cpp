// The modelwarden daemon (see agent.hpp).
#include "daemon/agent.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <functional>

#include "daemon/event_router.hpp"
#include "daemon/kernel_policy.hpp"
#include "output/ecs_encoder.hpp"
#include "output/host_info.hpp"
#include "output/json_lines_writer.hpp"
#include "pipeline/pipeline.hpp"
#include "policy/compile.hpp"
#include "policy/parser.hpp"
#include "process/process_table.hpp"
#include "sensors/features.hpp"
#include "sensors/ring_buffer.hpp"
#include "sensors/sensors.hpp"
#include "spool/spool.hpp"

#ifndef MW_VERSION
#define MW_VERSION "0.0.0"
#endif

namespace mw {

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::int64_t realtime_minus_boottime() {
    timespec rt{}, bt{};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_BOOTTIME, &bt);
    return (rt.tv_sec - bt.tv_sec) * 1'000'000'000LL + (rt.tv_nsec - bt.tv_nsec);
}

std::uint64_t boottime_ns() {
    timespec bt{};
    clock_gettime(CLOCK_BOOTTIME, &bt);
    return static_cast<std::uint64_t>(bt.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(bt.tv_nsec);
}

// The pipeline's view of the kernel's watched-task map.
class SensorScope final : public TaskScope {
public:
    explicit SensorScope(sensors::Sensors& s) : sensors_(s) {}
    void watch(std::uint32_t pid, std::uint32_t workload_id) override {
        if (auto r = sensors_.mark_task(pid, mw_task_state{workload_id, 0}); !r)
            spdlog::warn("scope: cannot watch pid {}: {}", pid, r.error().message);
    }
    void unwatch(std::uint32_t pid) override {
        if (auto r = sensors_.unmark_task(pid); !r)
            spdlog::warn("scope: cannot unwatch pid {}: {}", pid, r.error().message);
    }

private:
    sensors::Sensors& sensors_;
};

// A repeating timer on the one io_context.
class Ticker {
public:
    Ticker(asio::io_context& io, std::chrono::milliseconds period, std::function<void()> fn)
        : timer_(io), period_(period), fn_(std::move(fn)) {}
    void start() { arm(); }
    void stop() { timer_.cancel(); }

private:
    void arm() {
        timer_.expires_after(period_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            fn_();
            arm();
        });
    }
    asio::steady_timer timer_;
    std::chrono::milliseconds period_;
    std::function<void()> fn_;
};

}  // namespace

int run_agent(const RunOptions& options) {
    const AgentConfig& config = options.config;

    // 1. Policy first: a bad policy never starts the agent half-configured.
    auto policies = policy::load_policy_set(config.policy_paths);
    if (!policies) {
        spdlog::error("policy: refusing to start:\n{}", policies.error().message);
        return 1;
    }
    const auto compiled = policy::compile_policy_set(policies.value());
    spdlog::info("policy: {} workload(s) from {}", policies->workloads.size(), fmt::join(config.policy_paths, ", "));

    // 2. Outputs.
    auto host = gather_host_info("/");
    host.boot_to_realtime_ns = realtime_minus_boottime();
    if (!config.agent_name.empty()) host.name = config.agent_name;
    EcsEncoder encoder(host, make_agent_info(host, MW_VERSION));

    std::unique_ptr<JsonLinesWriter> writer;
    if (config.stdout_events || !config.events_file.empty()) {
        auto w = JsonLinesWriter::open({config.stdout_events, config.events_file});
        if (!w) {
            spdlog::error("output: {}", w.error().message);
            return 1;
        }
        writer = std::move(w).value();
    }
    std::unique_ptr<Spool> spool;
    if (!config.spool_dir.empty()) {
        auto s = Spool::open(config.spool_dir);
        if (!s) {
            spdlog::error("spool: {}", s.error().message);
            return 1;
        }
        spool = std::move(s).value();
    }

    // 3. Sensors: open -> configure -> load -> attach, each step its own error.
    const auto features = sensors::probe();
    for (const auto& path : features.active_paths()) spdlog::info("sensors: active: {}", path);
    auto opened = sensors::Sensors::open();
    if (!opened) {
        spdlog::error("sensors: open: {}", opened.error().message);
        return 1;
    }
    sensors::Sensors sensors = std::move(opened).value();
    sensors::SensorConfig sensor_config;
    sensor_config.ring_buffer_bytes = config.ring_buffer_mib * 1024u * 1024u;
    if (auto r = sensors.configure(sensor_config); !r) {
        spdlog::error("sensors: configure: {}", r.error().message);
        return 1;
    }
    if (auto r = sensors.load(); !r) {
        spdlog::error("sensors: load: {}", r.error().message);
        return 1;
    }
    const std::string cgroup2 = find_cgroup2_mount();
    if (auto r = load_policy_maps(sensors, compiled, cgroup2); !r) {
        spdlog::error("policy: loading kernel maps: {}", r.error().message);
        return 1;
    }

    asio::io_context io;
    ProcessTableConfig table_config;
    table_config.cgroup_root = cgroup2;
    table_config.exit_grace_ns = std::uint64_t{config.reap_grace_seconds} * 1'000'000'000ull;
    ProcessTable table(table_config);
    SensorScope scope(sensors);
    EventRouter router(encoder, writer.get(), spool.get());
    Pipeline pipeline(table, scope, router);
    pipeline.set_policies(&policies.value());
    pipeline.set_clock_offset(host.boot_to_realtime_ns);

    auto reader = sensors::RingBufferReader::create(
        io, sensors.events_map_fd(), [&pipeline](std::span<const std::byte> rec) { pipeline.on_record(rec); });
    if (!reader) {
        spdlog::error("sensors: ring buffer: {}", reader.error().message);
        return 1;
    }
    if (auto r = sensors.attach(); !r) {
        spdlog::error("sensors: attach: {}", r.error().message);
        return 1;
    }
    // Attached first, then marked: a process that forks between the /proc scan and the
    // marking is still caught, because the kernel already propagates marks at fork.
    const std::size_t marked = mark_running_workloads(sensors, table, policies.value());
    spdlog::info("policy: {} running process(es) marked as workload members", marked);
    (*reader)->start();

    // 4. Periodic work: kernel drop reports, flushes, reaping, clock drift.
    std::uint64_t lost_reported = 0;
    Ticker lost_ticker(io, std::chrono::seconds(config.lost_report_seconds), [&] {
        auto drops = sensors.read_drop_counters();
        if (!drops) return;
        const auto total = drops->total();
        if (total > lost_reported) {
            const auto& r = drops->by_reason;
            const auto detail = fmt::format("kernel dropped records: ringbuf_full={} scratch={} pending_full={} task_map_full={}",
                                            r[MW_DROP_RINGBUF_FULL], r[MW_DROP_SCRATCH], r[MW_DROP_PENDING_FULL],
                                            r[MW_DROP_TASK_MAP_FULL]);
            spdlog::warn("sensors: {}", detail);
            pipeline.report_lost(total - lost_reported, detail);
            lost_reported = total;
        }
    });
    Ticker housekeeping(io, 1s, [&] {
        if (writer) (void)writer->tick();
        table.reap(boottime_ns());
        pipeline.set_clock_offset(realtime_minus_boottime());
        if (spool) (void)spool->maintain(static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
    });
    lost_ticker.start();
    housekeeping.start();

    auto reload = [&] {
        spdlog::info("policy: reload requested");
        auto next = policy::load_policy_set(config.policy_paths);
        if (!next) {
            spdlog::error("policy: reload refused, previous policy stays in force:\n{}", next.error().message);
            return;
        }
        const auto next_compiled = policy::compile_policy_set(next.value());
        // Swap the set the pipeline reads only after the kernel maps hold the new one.
        if (auto r = load_policy_maps(sensors, next_compiled, cgroup2); !r) {
            spdlog::error("policy: reload failed while loading maps: {}", r.error().message);
            return;
        }
        policies = std::move(next);
        pipeline.set_policies(&policies.value());
        spdlog::info("policy: reloaded {} workload(s)", policies->workloads.size());
    };

    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                reload();
                if (writer) (void)writer->reopen();
                signals.async_wait(on_signal);
                return;
            }
            spdlog::info("agent: signal {}: stopping", sig);
            (*reader)->stop();
            lost_ticker.stop();
            housekeeping.stop();
        };
    signals.async_wait(on_signal);

    if (!options.ready_file.empty()) {
        std::ofstream(options.ready_file) << ::getpid() << "\n";
    }
    spdlog::info("agent: ready (pid {})", ::getpid());
    io.run();

    // Teardown: take what the kernel already produced, flush, then free the ring buffer
    // before the skeleton that owns its map.
    (void)(*reader)->drain();
    if (writer) (void)writer->flush();
    if (spool) (void)spool->sync();
    const auto& st = pipeline.stats();
    spdlog::info("agent: stopped: {} records, {} events, {} alerts, {} decode errors", st.records, st.events,
                 st.alerts, st.decode_errors);
    reader->reset();
    return 0;
}

}  // namespace mw
