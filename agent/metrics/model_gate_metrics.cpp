// Model gate series at scrape time (see model_gate_metrics.hpp): relaxed loads of the gate's
// own atomics, so the gate pays nothing per open for being measured.
#include "metrics/model_gate_metrics.hpp"

#include <array>
#include <atomic>
#include <vector>

namespace mw {
namespace {

double load(const std::atomic<std::uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); }

}  // namespace

void write_model_gate_metrics(MetricsWriter& w, std::span<const GateSeries> gates) {
    if (gates.empty()) return;
    using Field = const std::atomic<std::uint64_t> modelgate::GateStats::*;
    struct Simple {
        const char* name;
        const char* help;
        MetricType type;
        Field field;
    };
    static constexpr std::array<Simple, 5> kSimple{{
        {"modelwarden_model_gate_verifications_total", "Model files read, hashed and scanned", MetricType::Counter,
         &modelgate::GateStats::verifications},
        {"modelwarden_model_gate_denied_total", "Opens of model files refused (EPERM)", MetricType::Counter,
         &modelgate::GateStats::denied},
        {"modelwarden_model_gate_cache_hits_total", "Opens answered from the verdict cache", MetricType::Counter,
         &modelgate::GateStats::cache_hits},
        {"modelwarden_model_gate_pending", "Opens waiting for a verdict", MetricType::Gauge,
         &modelgate::GateStats::pending},
        {"modelwarden_model_gate_queue_full_total", "Opens refused because too many waited for verification",
         MetricType::Counter, &modelgate::GateStats::queue_full},
    }};
    for (const auto& m : kSimple) {
        if (!w.family(m.name, m.help, m.type, {"workload"})) continue;
        for (const auto& g : gates) w.sample({g.workload}, load((*g.stats).*m.field));
    }
    if (w.family("modelwarden_model_gate_opens_total", "Watched opens of model files, by verdict", MetricType::Counter,
                 {"workload", "verdict"})) {
        for (const auto& g : gates) {
            w.sample({g.workload, "approved"}, load(g.stats->approved));
            w.sample({g.workload, "not_approved"}, load(g.stats->not_approved));
        }
    }
    if (w.family("modelwarden_model_gate_verification_seconds", "Time to read, hash and scan one model file",
                 MetricType::Histogram, {"workload"})) {
        for (const auto& g : gates) {
            std::vector<std::uint64_t> buckets;
            for (const auto& b : g.stats->latency_buckets) buckets.push_back(b.load(std::memory_order_relaxed));
            w.histogram({g.workload}, modelgate::GateStats::kLatencyBounds, buckets,
                        load(g.stats->latency_sum_ns) / 1e9);
        }
    }
}

}  // namespace mw
