// The modelwarden daemon (see agent.hpp).
#include "daemon/agent.hpp"

#include <sys/resource.h>
#include <csignal>
#include <time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "daemon/event_router.hpp"
#include "daemon/kernel_policy.hpp"
#include "control/sd_notify.hpp"
#include "daemon/file_deny.hpp"
#include "daemon/enforcement_actions.hpp"
#include "policy/mechanism.hpp"
#include "daemon/model_gates.hpp"
#include "daemon/operations.hpp"
#include "seccomp/learn.hpp"
#include "seccomp/log_profiles.hpp"
#include "modelgate/model_gate.hpp"
#include "pin_dir.hpp"
#include "daemon/policy_store.hpp"
#include "daemon/siem_delivery.hpp"
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
#include "self_protect.hpp"
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
    // A closed stdout pipe or a dropped socket must be an error on that write, not our death.
    ::signal(SIGPIPE, SIG_IGN);

    // 1. Policy first: a bad policy never starts the agent half-configured.
    if (auto valid = policy::load_policy_set(config.policy_paths); !valid) {
        spdlog::error("policy: refusing to start:\n{}", valid.error().message);
        return 1;
    }

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
    // Sinks read the spool: without one there is nothing durable to deliver from.
    SinksConfig sinks_config;
    if (config.sinks && !config.sinks.IsNull()) {
        auto parsed = parse_sinks_config(config.sinks, config.source);
        if (!parsed) {
            spdlog::error("sinks: refusing to start:\n{}", parsed.error().message);
            return 1;
        }
        sinks_config = std::move(parsed).value();
        if (!sinks_config.sinks.empty() && !spool) {
            spdlog::error("sinks: refusing to start: `sinks:` needs `spool: {dir: ...}` (the sinks deliver from it)");
            return 1;
        }
    }

    // 3. Sensors: open -> configure -> load -> attach, each step its own error.
    const auto features = sensors::probe();
    for (const auto& path : features.active_paths()) spdlog::info("sensors: active: {}", path);
    for (const auto& m : features.enforcement_mechanisms())
        if (m.starts_with("self-protect"))
            spdlog::info("selfprotect: {}", m.substr(m.find_first_not_of(' ', m.find(':') + 1)));
    auto opened = sensors::Sensors::open();
    if (!opened) {
        spdlog::error("sensors: open: {}", opened.error().message);
        return 1;
    }
    sensors::Sensors sensors = std::move(opened).value();
    sensors::SensorConfig sensor_config;
    sensor_config.ring_buffer_bytes = config.ring_buffer_mib * 1024u * 1024u;
    sensor_config.learn_syscalls = config.learn_syscalls;
    sensor_config.seccomp_violations = config.seccomp_violations;
    sensor_config.open_cache = config.open_cache;  // sensors.open_cache (off on nfsd/ksmbd hosts)
    // Enforcement: cgroup programs at the v2 root, BPF-LSM where it loads, pins for fail-safe.
    sensor_config.cgroup2_root = find_cgroup2_mount();
    sensor_config.enable_lsm = features.has("bpf_lsm");
    // issue 3: `deny` the host cannot carry out compiles as the rule's fallback (policy/mechanism.hpp)
    policy::set_host_mechanisms({features.has("bpf_lsm"), features.has("fanotify_perm")});
    enforcement::PinDirLock pin_lock;
    if (config.fail_mode != "off" && !config.pin_dir.empty()) {
        if (auto claimed = enforcement::claim_pin_dir(config.pin_dir); claimed) {
            pin_lock = std::move(claimed).value();
            sensor_config.pin_dir = config.pin_dir;
        } else {
            spdlog::warn("{}: running without pins (no fail-safe)", claimed.error().message);
        }
    }
    // fail-open: a clean stop (or a failed start) removes the pins; a crash never does.
    sensors.set_keep_pins(config.fail_mode == "closed");
    if (auto r = sensors.configure(sensor_config); !r) {
        spdlog::error("sensors: configure: {}", r.error().message);
        return 1;
    }
    // Self-protection (selfprotect/): its programs on before load; entries a previous
    // agent's pins left behind emptied after load, before its links are replaced.
    if (auto r = selfprotect::configure(sensors, sensor_config.enable_lsm); !r) {
        spdlog::error("{}", r.error().message);
        return 1;
    }
    if (auto r = sensors.load(); !r) {
        spdlog::error("sensors: load: {}", r.error().message);
        return 1;
    }
    if (auto r = selfprotect::reset(sensors); !r) {
        spdlog::error("{}", r.error().message);
        return 1;
    }
    const std::string cgroup2 = find_cgroup2_mount();

    asio::io_context io;
    ProcessTableConfig table_config;
    table_config.cgroup_root = cgroup2;
    table_config.exit_grace_ns = std::uint64_t{config.reap_grace_seconds} * 1'000'000'000ull;
    ProcessTable table(table_config);
    SensorScope scope(sensors);
    EventRouter router(encoder, writer.get(), spool.get());
    Pipeline pipeline(table, scope, router);
    pipeline.set_clock_offset(host.boot_to_realtime_ns);

    // ---- freeze / isolate in user space; thaw / release for operators (issue 3) ----
    EnforcementActions enforcement(sensors, cgroup2);
    pipeline.set_action_hook(&enforcement);
    // ---- end freeze / isolate ----

    // The kernel maps take each generation first; the pipeline reads it only once they hold it.
    PolicyStore store([&](const policy::CompiledPolicy& c) { return load_policy_maps(sensors, c, cgroup2); },
                      config.policy_paths);
    store.on_change([&](const PolicyGeneration& now, const PolicyGeneration* before) {
        pipeline.set_policies(&now.policies);
        spdlog::info("policy: generation {} in force ({} workload(s), {}){}", now.number, now.policies.workloads.size(),
                     now.origin, before ? fmt::format(", replacing generation {}", before->number) : "");
    });
    store.on_change([&](const PolicyGeneration& now, const PolicyGeneration*) { enforcement.set_policies(&now.policies); });
    if (auto r = store.load_files(); !r) {
        spdlog::error("policy: {}", r.error().message);
        return 1;
    }

    std::unique_ptr<SiemDelivery> delivery;
    if (!sinks_config.sinks.empty()) {
        auto d = start_siem_delivery(io, *spool, sinks_config);
        if (!d) {
            spdlog::error("{}", d.error().message);
            return 1;
        }
        delivery = std::move(d).value();
    }
    auto reader = sensors::RingBufferReader::create(
        io, sensors.events_map_fd(), [&pipeline, &delivery](std::span<const std::byte> rec) {
            pipeline.on_record(rec);
            if (delivery) delivery->notify();
        });
    if (!reader) {
        spdlog::error("sensors: ring buffer: {}", reader.error().message);
        return 1;
    }
    if (auto r = sensors.attach(); !r) {
        spdlog::error("sensors: attach: {}", r.error().message);
        return 1;
    }
    // ---- seccomp (issue 7): `exec --seccomp` with a log profile registers its cgroup here ----
    if (config.seccomp_violations) {
        if (auto r = sensors.pin_seccomp_log_profiles(seccomp::kLogProfilesPin); !r)
            spdlog::warn("seccomp: logged syscalls will not be reported: {}", r.error().message);
    }
    // ---- end seccomp ----
    // Attached first, then marked: a process that forks between the /proc scan and the
    // marking is still caught, because the kernel already propagates marks at fork.
    const std::size_t marked = mark_running_workloads(sensors, table, store.current()->policies);
    spdlog::info("policy: {} running process(es) marked as workload members", marked);
    auto gates = start_model_gates(io, store.current()->policies, sensors, pipeline);
    if (!gates) {
        spdlog::error("{}", gates.error().message);
        return 1;
    }

    // ---- file/exec deny through fanotify where BPF-LSM is refused (daemon/file_deny.hpp) ----
    std::unique_ptr<FileDeny> file_deny;
    if (!features.has("bpf_lsm") && features.has("fanotify_perm")) {
        if (auto started = start_file_deny(io, store.current()->policies, sensors, pipeline,
                                           FileDenyOptions{config.fanotify_mark_mounts});
            started) {
            file_deny = std::move(started).value();
            store.on_change([&](const PolicyGeneration& now, const PolicyGeneration*) {
                if (auto r = file_deny->rearm(now.policies); !r)
                    spdlog::error("file deny: policy generation {}: {}; the previous marks stay armed", now.number,
                                  r.error().message);
            });
        } else {
            spdlog::error("{}: file and exec deny stay alert-only", started.error().message);
        }
    }
    // ---- end file deny ----

    // Control API, metrics and the audit log.
    Operations ops({io, config, store, pipeline, router, table, sensors, spool.get(), delivery.get()});
    if (auto r = ops.start(); !r) {
        spdlog::error("{}", r.error().message);
        return 1;
    }
    // thaw/release through the control API, audited like every operator action
    ops.set_enforcement(&enforcement);
    // ---- operations: file-deny coverage in status, model gate metrics (helper T) ----
    ops.set_file_deny(file_deny.get());
    ops.set_model_gates(model_gate_series(gates.value()));
    // ---- end operations ----
    enforcement.set_audit([&ops](std::string_view actor, std::string_view action, std::string_view object,
                                 std::string details) { ops.record(actor, action, object, std::move(details)); });
    ops.record("agent", "agent.start", config.agent_name,
               fmt::format(R"({{"pid":{},"policy_generation":{}}})", ::getpid(), store.current()->number));
    store.on_change([&](const PolicyGeneration& now, const PolicyGeneration* before) {
        ops.record(now.origin, "policy.change", fmt::format("generation {}", now.number),
                   fmt::format(R"({{"previous":{},"sha256":"{}"}})", before ? before->number : 0, now.sha256));
    });
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
        if (delivery) delivery->notify();  // events not from the ring buffer (model gates, loss reports)
    });
    lost_ticker.start();
    housekeeping.start();
    // Seccomp learning: the kernel fills per-workload syscall bitmaps; merge them to disk.
    auto dump_learned = [&] {
        // names[id] is workload id's name; ids are positions + 1, so slot 0 stays empty.
        std::vector<std::string> names{std::string()};
        for (const auto& w : store.current()->policies.workloads) names.push_back(w.name);
        if (auto r = seccomp::dump_learned_sets(sensors, names, config.seccomp_dir); !r)
            spdlog::warn("seccomp: saving learned syscall sets: {}", r.error().message);
    };
    Ticker learned_ticker(io, 30s, dump_learned);
    if (config.learn_syscalls) learned_ticker.start();
    // systemd: READY=1 once attached, then WATCHDOG=1 at half the configured interval.
    const auto watchdog_every = watchdog_interval();
    Ticker watchdog(io, watchdog_every ? std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_every / 2) : 1h,
                    [] { (void)notify_watchdog(); });
    if (watchdog_every) watchdog.start();

    // A refused reload is logged and audited by Operations; the generation in force stays.
    auto reload = [&] { (void)ops.reload_policy_files("signal:SIGHUP"); };

    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                (void)notify_reloading();
                reload();
                (void)notify_ready("monitoring");
                if (writer) (void)writer->reopen();
                signals.async_wait(on_signal);
                return;
            }
            spdlog::info("agent: signal {}: stopping", sig);
            (void)notify_stopping();
            ops.record("agent", "agent.stop", config.agent_name, fmt::format(R"({{"signal":{}}})", sig));
            ops.stop();
            if (delivery) delivery->stop();
            watchdog.stop();
            (*reader)->stop();
            learned_ticker.stop();
            if (config.learn_syscalls) dump_learned();
            for (auto& gate : gates.value()) gate->stop();
            if (file_deny) file_deny->stop();  // queued opens answered ALLOW (logged)
            lost_ticker.stop();
            housekeeping.stop();
        };
    signals.async_wait(on_signal);

    // ---- self-protection: the kernel learns what the agent is (threads, files, BPF objects).
    // SIGUSR1/SIGUSR2 are no-ops, not deaths: the SIGKILL the kernel sends a watched sender at
    // sys_enter does not stop its kill(2) from being delivered (see tests/selfprotect).
    ::signal(SIGUSR1, SIG_IGN);
    ::signal(SIGUSR2, SIG_IGN);
    {
        selfprotect::ProtectedPaths protected_paths;
        std::error_code exe_error;
        protected_paths.binary = std::filesystem::read_symlink("/proc/self/exe", exe_error).string();
        protected_paths.config = {"/etc/modelwarden"};
        if (!config.source.empty()) protected_paths.config.push_back(config.source);
        protected_paths.pin_dir = sensor_config.pin_dir;
        protected_paths.spool_dir = config.spool_dir;
        protected_paths.audit_log = config.audit_log;
        if (auto p = selfprotect::protect(sensors, protected_paths); p)
            spdlog::info("selfprotect: {} inode(s), {} path(s), {} bpf object(s), {} thread(s) protected", p->inodes,
                         p->prefixes, p->bpf_objects, p->threads);
        else
            spdlog::error("{} (self-protection incomplete)", p.error().message);
    }
    // ---- end self-protection

    (void)notify_ready("monitoring");
    if (!options.ready_file.empty()) {
        std::ofstream(options.ready_file) << ::getpid() << "\n";
    }
    spdlog::info("agent: ready (pid {})", ::getpid());
    io.run();
    selfprotect::release(sensors);  // a clean stop: pinned programs must not report what follows

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
