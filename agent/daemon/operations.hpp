// Operations: what platform and security teams use to run the agent — the control API
// (Unix socket, optional mutual TLS), Prometheus metrics, and the hash-chained audit log —
// answering from the daemon's live state on the one io_context.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/result.hpp"
#include "control/handler.hpp"
#include "daemon/config.hpp"
#include "metrics/model_gate_metrics.hpp"

namespace mw {

class AuditLog;
class EnforcementActions;
class ControlServer;
class EventRouter;
class FileDeny;
class MetricsRegistry;
class MetricsServer;
class Pipeline;
class PolicyStore;
class ProcessTable;
class SiemDelivery;
class Spool;
struct SecurityEvent;
namespace sensors { class Sensors; }

struct OperationsContext {
    boost::asio::io_context& io;
    const AgentConfig& config;
    PolicyStore& policies;
    Pipeline& pipeline;
    EventRouter& router;
    ProcessTable& processes;
    sensors::Sensors& sensors;
    Spool* spool;                         // nullptr when no spool is configured
    SiemDelivery* delivery = nullptr;     // the running sinks, for their metrics (nullptr = none)
};

class Operations final : public ControlHandler {
public:
    explicit Operations(OperationsContext ctx);
    ~Operations() override;

    // Opens the audit log, then the metrics endpoint, then the control API, as configured.
    Result<void> start();
    void stop();

    // SIGHUP or a file change: reloads the policy files. A refusal is logged and audited and the
    // generation in force stays; the change itself is audited by the policy store's listener.
    Result<std::uint64_t> reload_policy_files(std::string_view actor);

    AuditLog* audit() { return audit_.get(); }
    // Records an operational fact (agent start/stop, policy change, enforcement) in the audit log.
    void record(std::string_view actor, std::string_view action, std::string_view object, std::string details_json = "{}");

    // ControlHandler
    Result<std::string> status_json() override;
    Result<std::string> events_json(const EventsQuery& query) override;
    Result<std::string> list_policies() override;
    Result<std::string> apply_policy(std::string_view yaml, std::string_view signature, const Caller& caller) override;
    Result<std::string> rollback(const Caller& caller) override;
    // thaw/release (daemon/enforcement_actions.hpp), and the frozen/isolated lists in status.
    void set_enforcement(EnforcementActions* enforcement) { enforcement_ = enforcement; }
    Result<std::string> lift_enforcement(std::string_view verb, std::string_view body, const Caller& caller) override;
    // The fanotify deny fallback's coverage lines in status ("file_deny"); nullptr = not armed.
    void set_file_deny(const FileDeny* file_deny) { file_deny_ = file_deny; }
    // The runtime model gates, for the modelwarden_model_gate_* series and status.
    void set_model_gates(std::vector<GateSeries> gates) { gates_ = std::move(gates); }

private:
    void register_metrics();
    // A call the control API refused, as an MW-API-001 alert (source.ip, user.name, url.path).
    void report_refused_call(const RefusedCall& call);

    OperationsContext ctx_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::unique_ptr<AuditLog> audit_;
    std::unique_ptr<MetricsRegistry> registry_;
    std::unique_ptr<MetricsServer> metrics_server_;
    std::unique_ptr<ControlServer> control_;
    // Signed audit checkpoints on a timer (and at stop), so a quiet agent's last records are
    // not left unsigned until the next hundred arrive.
    std::unique_ptr<boost::asio::steady_timer> checkpoint_timer_;
    std::uint64_t checkpointed_seq_ = 0;
    void arm_checkpoint_timer();
    void checkpoint_audit();
    // Events by (kind, category, action), alerts by (rule, severity), enforcement by (action,
    // outcome). Keys are joined with '\x1f' into one reused buffer: no allocation per event once warm.
    void count_event(const SecurityEvent& event);
    std::mutex counts_mu_;
    std::map<std::string, std::uint64_t, std::less<>> event_counts_, alert_counts_, enforcement_counts_;
    std::string key_;
    EnforcementActions* enforcement_ = nullptr;
    const FileDeny* file_deny_ = nullptr;
    std::vector<GateSeries> gates_;
};

}  // namespace mw
