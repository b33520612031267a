// Model gates for the daemon (see model_gates.hpp).
#include "daemon/model_gates.hpp"

#include <spdlog/spdlog.h>

#include "modelgate/model_gate.hpp"
#include "pipeline/pipeline.hpp"
#include "scanner/manifest.hpp"
#include "sensors/sensors.hpp"

namespace mw {

Result<ModelGates> start_model_gates(boost::asio::io_context& io, const policy::PolicySet& policies,
                                     sensors::Sensors& sensors, Pipeline& pipeline) {
    ModelGates gates;
    for (std::size_t i = 0; i < policies.workloads.size(); ++i) {
        const auto& w = policies.workloads[i];
        if (w.models.dirs.empty() || w.models.manifest.empty()) continue;
        const auto workload_id = static_cast<std::uint32_t>(i + 1);
        auto approver = scanner::ModelApprover::load({w.models.manifest, "", w.models.trusted_keys});
        if (!approver)
            return make_error(fmt::format("model gate for workload {}: {}", w.name, approver.error().message));

        modelgate::GateConfig cfg;
        cfg.workload = w.name;
        cfg.model_dirs = w.models.dirs;
        cfg.mode = w.mode == policy::Mode::enforce ? modelgate::GateMode::enforce : modelgate::GateMode::monitor;
        // The kernel's watched-task map is the one truth about membership.
        cfg.is_watched = [&sensors, workload_id](pid_t pid) {
            auto state = sensors.task_state(static_cast<std::uint32_t>(pid));
            return state.ok() && state->workload_id == workload_id;
        };
        const bool enforce = cfg.mode == modelgate::GateMode::enforce;
        cfg.on_alert = [&pipeline, enforce](const modelgate::GateAlert& a) {
            Pipeline::AgentAlert alert;
            alert.pid = static_cast<std::uint32_t>(a.pid);
            alert.rule = a.tamper ? policy::RuleKind::model_tampered : policy::RuleKind::model_not_approved;
            alert.action = a.tamper ? "model-write" : "model-open";
            alert.file_path = a.path;
            alert.reason = a.reason;
            alert.enforcement_action = a.denied ? "deny" : "alert";
            alert.applied = a.denied;
            alert.succeeded = a.denied && enforce;
            pipeline.report_agent_alert(alert);
        };
        auto gate = modelgate::ModelGate::create(
            io, std::move(cfg), std::make_shared<const scanner::ModelApprover>(std::move(approver).value()));
        if (!gate) return make_error(fmt::format("model gate for workload {}: {}", w.name, gate.error().message));
        (*gate)->start();
        spdlog::info("modelgate: workload {}: {} model dir(s) gated ({} mode)", w.name, w.models.dirs.size(),
                     enforce ? "enforce" : "monitor");
        gates.push_back(std::move(gate).value());
    }
    return gates;
}

std::vector<GateSeries> model_gate_series(const ModelGates& gates) {
    std::vector<GateSeries> out;
    for (const auto& g : gates) out.push_back({g->workload(), &g->stats()});
    return out;
}

}  // namespace mw
