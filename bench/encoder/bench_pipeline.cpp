// User-space pipeline throughput without the kernel (no root): the foundation benchmark's
// synthetic records -> decode -> process table -> policy -> ECS JSON -> JsonLinesWriter, with
// the encoder's per-process fragment cache on and off, interleaved, as medians of CPU time.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "output/ecs_encoder.hpp"
#include "output/host_info.hpp"
#include "output/json_lines_writer.hpp"
#include "pipeline_bench.hpp"

using namespace mw;

namespace {

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

// One pipeline with its own table, encoder and writer, so the configurations share nothing.
struct Rig {
    std::string label;
    policy::PolicySet policies;
    ProcessTable table;
    bench::NullScope scope;
    EcsEncoder encoder;
    std::unique_ptr<JsonLinesWriter> writer;
    std::unique_ptr<EncodeAndWrite> sink;
    std::unique_ptr<Pipeline> pipeline;

    static EcsEncoderOptions encoder_options(bool cache) {
        EcsEncoderOptions o;
        o.cache_fragments = cache;
        return o;
    }

    Rig(std::string name, policy::PolicySet set, const HostInfo& host, bool cache)
        : label(std::move(name)),
          policies(std::move(set)),
          table(bench::table_config()),
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

// The policy as a hand-built one would be: no GlobSets, so the evaluator walks every list
// glob by glob (what it did for every policy before the sets).
policy::PolicySet without_glob_sets(policy::PolicySet set) {
    for (auto& w : set.workloads) w.exec_set = w.read_set = w.write_set = w.sensitive_set = policy::GlobSet();
    return set;
}

}  // namespace

int main(int argc, char** argv) {
    int events = 300'000, reps = 5;
    bool cached_only = false, without_glob_set = false;
    CLI::App app{"modelwarden user-space pipeline throughput (no kernel, no root)"};
    app.add_option("--events", events, "records per repetition")->check(CLI::PositiveNumber);
    app.add_option("--reps", reps, "repetitions per configuration")->check(CLI::PositiveNumber);
    app.add_flag("--cached-only", cached_only, "measure only the fragment cache (for perf record)");
    app.add_flag("--without-glob-set", without_glob_set,
                 "add a configuration whose policy has no GlobSets (path lists walked glob by glob)");
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::warn);

    const std::string allowed_dir = "/var/lib/mw-bench/models";
    auto policies = bench::parse_policy(bench::policy_text(allowed_dir, true));
    if (!policies) return 1;
    const HostInfo host = gather_host_info();
    std::vector<std::unique_ptr<Rig>> rigs;
    rigs.push_back(std::make_unique<Rig>("on", *policies, host, true));
    if (without_glob_set) rigs.push_back(std::make_unique<Rig>("on, no GlobSet", without_glob_sets(*policies), host, true));
    if (!cached_only) rigs.push_back(std::make_unique<Rig>("off", *policies, host, false));

    fmt::print("| events | fragment cache | median events/s (one core, CPU time) | wall events/s | allocations/event "
               "| line bytes |\n|---|---|---|---|---|---|\n");
    int failed = 0;
    for (bool alert : {false, true}) {
        const auto recs = bench::open_records(alert, allowed_dir);
        struct Figures {
            std::vector<double> cpu, wall;
            std::uint64_t allocs = 0, total = 0, bytes0 = 0, lines0 = 0;
        };
        std::vector<Figures> fig(rigs.size());
        for (std::size_t k = 0; k < rigs.size(); ++k) {
            bench::feed_exec(*rigs[k]->pipeline);
            bench::feed(*rigs[k]->pipeline, recs, 20'000);  // warm: buffers reach their final capacity
            (void)rigs[k]->writer->flush();
            fig[k].bytes0 = rigs[k]->writer->stats().bytes;
            fig[k].lines0 = rigs[k]->writer->stats().lines;
        }
        for (int rep = 0; rep < reps; ++rep) {
            for (std::size_t k = 0; k < rigs.size(); ++k) {  // interleaved: all see the same load
                const auto s = bench::measure(*rigs[k]->pipeline, recs, events);
                fig[k].allocs += s.allocs;
                fig[k].total += static_cast<std::uint64_t>(events);
                fig[k].cpu.push_back(s.cpu_rate);
                fig[k].wall.push_back(s.wall_rate);
            }
        }
        for (std::size_t k = 0; k < rigs.size(); ++k) {
            auto& w = *rigs[k]->writer;
            (void)w.flush();
            const auto lines = w.stats().lines - fig[k].lines0;
            const double line_bytes = static_cast<double>(w.stats().bytes - fig[k].bytes0) / static_cast<double>(lines);
            fmt::print("| {} | {} | **{:.0f}** | {:.0f} | {:.4f} | {:.0f} |\n",
                       alert ? "alert (read outside allow list; flushed per line)" : "telemetry (allowed open, audit_all)",
                       rigs[k]->label, bench::median(fig[k].cpu), bench::median(fig[k].wall),
                       static_cast<double>(fig[k].allocs) / static_cast<double>(fig[k].total), line_bytes);
            if (lines != fig[k].total) {
                fmt::print("CHECK FAILED: {} lines written for {} records\n", lines, fig[k].total);
                ++failed;
            }
        }
    }
    return failed ? 1 : 0;
}
