// The runtime model gate per workload: opens under a workload's model directories wait for
// the agent's verdict (manifest hash, signature, pickle scan, model card) through fanotify.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/result.hpp"
#include "metrics/model_gate_metrics.hpp"
#include "policy/model.hpp"

namespace mw {

class Pipeline;
namespace sensors { class Sensors; }
namespace modelgate { class ModelGate; }

using ModelGates = std::vector<std::unique_ptr<modelgate::ModelGate>>;

// One gate per workload that names model directories and a manifest. A manifest that does not
// verify (signature, card) is an error: the agent does not start with a gate it cannot trust.
Result<ModelGates> start_model_gates(boost::asio::io_context& io, const policy::PolicySet& policies,
                                     sensors::Sensors& sensors, Pipeline& pipeline);

// Each gate's workload and counters, for metrics and status (valid while `gates` lives).
std::vector<GateSeries> model_gate_series(const ModelGates& gates);

}  // namespace mw
