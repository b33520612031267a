// Prometheus series of the runtime model gates (issue 4): verdicts, denials, cache hits,
// pending opens and verification latency, one series per gated workload.
#pragma once

#include <span>
#include <string>

#include "metrics/registry.hpp"
#include "modelgate/gate_stats.hpp"

namespace mw {

struct GateSeries {
    std::string workload;
    const modelgate::GateStats* stats = nullptr;
};

// Writes the modelwarden_model_gate_* families (nothing when `gates` is empty, so hosts
// without gates expose no empty families).
void write_model_gate_metrics(MetricsWriter& w, std::span<const GateSeries> gates);

}  // namespace mw
