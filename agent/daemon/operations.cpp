// Operations for the daemon (see operations.hpp).
#include "daemon/operations.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "audit/audit_log.hpp"
#include "control/bundle_signature.hpp"
#include "control/server.hpp"
#include "daemon/enforcement_actions.hpp"
#include "daemon/event_router.hpp"
#include "daemon/file_deny.hpp"
#include "daemon/policy_store.hpp"
#include "daemon/siem_delivery.hpp"
#include "metrics/http_server.hpp"
#include "metrics/registry.hpp"
#include "pipeline/pipeline.hpp"
#include "process/process_table.hpp"
#include "sensors/sensors.hpp"
#include "spool/spool.hpp"

namespace mw {

namespace {

Result<std::pair<std::string, std::uint16_t>> split_listen(const std::string& listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) return make_error("metrics.listen must be ADDRESS:PORT, got " + listen);
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    try {
        port = static_cast<unsigned>(std::stoul(listen.substr(colon + 1)));
    } catch (...) {
        port = 0;
    }
    if (port == 0 || port > 65535) return make_error("metrics.listen has a bad port: " + listen);
    return std::pair{host, static_cast<std::uint16_t>(port)};
}

std::string str(const YAML::Node& n, const char* key) { return n[key] ? n[key].as<std::string>() : std::string(); }

// The control server's accepted peer as an event endpoint (absent for Unix peers).
Endpoint peer_endpoint(const PeerAddress& peer) {
    Endpoint ep;
    ep.family = peer.family;
    ep.port = peer.port;
    ep.addr = peer.addr;
    return ep;
}

Result<TlsListenerOptions> tls_options(const AgentConfig& config) {
    const YAML::Node& tls = config.control_tls;
    TlsListenerOptions o;
    try {
        if (tls["address"]) o.address = tls["address"].as<std::string>();
        if (tls["port"]) o.port = tls["port"].as<std::uint16_t>();
        o.cert_file = str(tls, "cert");
        o.key_file = str(tls, "key");
        o.ca_file = str(tls, "client_ca");
        o.crl_file = str(tls, "crl");
        if (tls["trust_domain"]) o.roles.trust_domain = tls["trust_domain"].as<std::string>();
        if (tls["operator_ou"]) o.roles.operator_ou = tls["operator_ou"].as<std::string>();
        if (tls["viewer_ou"]) o.roles.viewer_ou = tls["viewer_ou"].as<std::string>();
    } catch (const YAML::Exception& e) {
        const auto file = config.source.empty() ? std::string("the default config") : config.source;
        return make_error(e.mark.is_null() ? fmt::format("{}: control.tls: {}", file, e.msg)
                                           : fmt::format("{}:{}:{}: control.tls: {}", file, e.mark.line + 1,
                                                         e.mark.column + 1, e.msg));
    }
    if (o.cert_file.empty() || o.key_file.empty() || o.ca_file.empty() || o.crl_file.empty())
        return make_error(fmt::format("{}: control.tls needs cert, key, client_ca and crl (revocation must be checkable)",
                                      config_position(config, tls)));
    return o;
}

}  // namespace

Operations::Operations(OperationsContext ctx) : ctx_(ctx) {}
Operations::~Operations() { stop(); }

void Operations::record(std::string_view actor, std::string_view action, std::string_view object,
                        std::string details_json) {
    if (!audit_) return;
    auto details = nlohmann::json::parse(details_json, nullptr, false);
    if (details.is_discarded()) details = nlohmann::json::object();
    if (auto r = audit_->append(actor, action, object, std::move(details)); !r)
        spdlog::error("audit: cannot append {} {}: {}", action, object, r.error().message);
}

Result<void> Operations::start() {
    const auto& cfg = ctx_.config;
    if (!cfg.audit_log.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(cfg.audit_log).parent_path(), ec);
        AuditOptions o;
        o.path = cfg.audit_log;
        o.key_path = cfg.audit_key.empty() ? cfg.audit_log + ".key" : cfg.audit_key;
        auto log = AuditLog::open(o);
        if (!log) return make_error("audit: " + log.error().message);
        audit_ = std::move(log).value();
        checkpointed_seq_ = audit_->last_seq();
        if (cfg.audit_checkpoint_seconds > 0) {
            checkpoint_timer_ = std::make_unique<boost::asio::steady_timer>(ctx_.io);
            arm_checkpoint_timer();
        }
        // Audit records reach the SIEM too, through the same durable spool.
        if (ctx_.spool) {
            // The forwarder runs under the audit log's lock: the sequence number comes with the
            // line (asking the log for it here deadlocked the agent at its first record).
            audit_->set_forwarder([this](std::uint64_t seq, std::string_view line) {
                (void)ctx_.spool->append(EventKind::Event, fmt::format("audit-{}", seq), 0, line);
            });
        }
    }

    if (!cfg.metrics_listen.empty()) {
        auto where = split_listen(cfg.metrics_listen);
        if (!where) return make_error(fmt::format("{}: {}", cfg.source.empty() ? "the default config" : cfg.source,
                                                  where.error().message));
        registry_ = std::make_unique<MetricsRegistry>();
        register_metrics();
        ctx_.router.set_observer([this](const SecurityEvent& e) { count_event(e); });
        MetricsServerOptions o;
        o.address = where->first;
        o.port = where->second;
        o.ready = [this] { return ctx_.policies.current() != nullptr; };
        metrics_server_ = std::make_unique<MetricsServer>(ctx_.io, *registry_, o);
        if (auto r = metrics_server_->start(); !r) return make_error("metrics: " + r.error().message);
    }

    if (!cfg.control_socket.empty() || (cfg.control_tls && !cfg.control_tls.IsNull())) {
        ControlOptions o;
        o.unix_socket_path = cfg.control_socket;
        if (!o.unix_socket_path.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(std::filesystem::path(o.unix_socket_path).parent_path(), ec);
        }
        if (cfg.control_tls && !cfg.control_tls.IsNull()) {  // a default YAML::Node is defined (null)
            auto tls = tls_options(cfg);
            if (!tls) return make_error(tls.error().message);
            o.tls = std::move(tls).value();
        }
        o.audit = audit_.get();
        // The server already logged and audited the refusal; the SIEM gets it as an alert.
        o.on_refused = [this](const RefusedCall& call) { report_refused_call(call); };
        if (registry_) o.metrics_text = [this] { return registry_->expose(); };
        control_ = std::make_unique<ControlServer>(ctx_.io, *this, std::move(o));
        if (auto r = control_->start(); !r) return make_error("control: " + r.error().message);
    }
    return {};
}

void Operations::report_refused_call(const RefusedCall& call) {
    Pipeline::AgentAlert alert;
    alert.rule = policy::RuleKind::api_call_refused;
    // A policy write refused is a configuration attempt; anything else (status, a handshake
    // without a valid certificate) is about who may use the API at all.
    const bool config_call = call.method == "POST" || call.method == "PUT" || call.method == "DELETE";
    alert.category = config_call ? "configuration" : "iam";
    alert.type = config_call ? "change" : "info";
    alert.action = call.method.empty() ? "api-connect" : "api-call";
    alert.reason = call.reason;
    alert.enforcement_action = "deny";
    alert.applied = true;
    alert.succeeded = true;
    alert.detail = call.method.empty() ? "connection refused by the control API (tls)"
                                       : "request refused by the control API (403)";
    alert.source = peer_endpoint(call.peer_address);
    alert.user_name = call.user;
    alert.url_path = call.target;
    ctx_.pipeline.report_agent_alert(alert);
}

void Operations::stop() {
    if (control_) control_->stop();
    if (metrics_server_) metrics_server_->stop();
    if (checkpoint_timer_) checkpoint_timer_->cancel();
    checkpoint_audit();
}

void Operations::arm_checkpoint_timer() {
    checkpoint_timer_->expires_after(std::chrono::seconds(ctx_.config.audit_checkpoint_seconds));
    checkpoint_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        checkpoint_audit();
        arm_checkpoint_timer();
    });
}

void Operations::checkpoint_audit() {
    if (!audit_ || audit_->last_seq() == checkpointed_seq_) return;
    if (auto r = audit_->checkpoint(); !r) {
        spdlog::error("audit: checkpoint of {} failed: {}", ctx_.config.audit_log, r.error().message);
        return;
    }
    checkpointed_seq_ = audit_->last_seq();
}

Result<std::uint64_t> Operations::reload_policy_files(std::string_view actor) {
    spdlog::info("policy: reload requested ({})", actor);
    const auto before = ctx_.policies.current() ? ctx_.policies.current()->number : 0;
    auto r = ctx_.policies.load_files();
    if (!r) {
        spdlog::error("policy: reload refused, generation {} stays in force:\n{}", before, r.error().message);
        record(actor, "policy.reload.refused", fmt::format("generation {}", before),
               nlohmann::json{{"error", r.error().message}}.dump());
    }
    return r;
}

namespace {

constexpr char kSep = '\x1f';

void bump(std::map<std::string, std::uint64_t, std::less<>>& counts, const std::string& key) {
    if (auto it = counts.find(key); it != counts.end()) ++it->second;
    else counts.emplace(key, 1);
}

std::vector<std::string> split_key(const std::string& key) {
    std::vector<std::string> out(1);
    for (char c : key) {
        if (c == kSep) out.emplace_back();
        else out.back().push_back(c);
    }
    return out;
}

std::string_view kind_name(EventKind k) {
    switch (k) {
    case EventKind::Event: return "event";
    case EventKind::Alert: return "alert";
    case EventKind::PipelineError: return "pipeline_error";
    }
    return "unknown";
}

}  // namespace

void Operations::count_event(const SecurityEvent& e) {
    std::lock_guard lock(counts_mu_);
    auto join = [this](std::initializer_list<std::string_view> parts) -> const std::string& {
        key_.clear();
        bool first = true;
        for (auto p : parts) {
            if (!first) key_ += kSep;
            first = false;
            key_ += p;
        }
        return key_;
    };
    bump(event_counts_, join({kind_name(e.kind), e.category, e.action}));
    if (e.kind != EventKind::Alert) return;
    if (e.rule) bump(alert_counts_, join({e.rule->id, e.rule->severity}));
    if (!e.enforcement.action.empty())
        bump(enforcement_counts_,
             join({e.enforcement.action,
                   !e.enforcement.applied ? "not_applied" : e.enforcement.succeeded ? "succeeded" : "failed"}));
}

void Operations::register_metrics() {
    add_process_collector(*registry_);
    registry_->add_collector([this](MetricsWriter& w) {
        std::lock_guard lock(counts_mu_);
        auto write = [&w](const char* name, const char* help, const std::vector<std::string>& labels,
                          const std::map<std::string, std::uint64_t, std::less<>>& counts) {
            if (!w.family(name, help, MetricType::Counter, labels)) return;
            for (const auto& [key, n] : counts) w.sample(split_key(key), static_cast<double>(n));
        };
        write("modelwarden_events_by_action_total", "Events emitted, by kind, ECS category and action",
              {"kind", "category", "action"}, event_counts_);
        write("modelwarden_alerts_by_rule_total", "Alerts by rule id and severity", {"rule", "severity"}, alert_counts_);
        write("modelwarden_enforcement_actions_total", "Alerts' enforcement actions, by action and outcome",
              {"action", "outcome"}, enforcement_counts_);
    });
    if (ctx_.delivery && ctx_.spool) add_sink_metrics(*registry_, *ctx_.delivery, *ctx_.spool);
    // Values owned by the pipeline, sensors and spool are read at scrape time: nothing on the hot path.
    registry_->add_collector([this](MetricsWriter& w) {
        const auto& st = ctx_.pipeline.stats();
        if (w.family("modelwarden_kernel_records_total", "Records read from the kernel ring buffer", MetricType::Counter, {}))
            w.sample({}, static_cast<double>(st.records));
        if (w.family("modelwarden_record_decode_errors_total", "Kernel records refused by the decoder", MetricType::Counter, {}))
            w.sample({}, static_cast<double>(st.decode_errors));
        const auto& rs = ctx_.router.stats();
        if (w.family("modelwarden_events_total", "Events emitted, by kind", MetricType::Counter, {"kind"})) {
            w.sample({"event"}, static_cast<double>(rs.events));
            w.sample({"alert"}, static_cast<double>(rs.alerts));
            w.sample({"pipeline_error"}, static_cast<double>(rs.pipeline_errors));
        }
        if (w.family("modelwarden_output_write_errors_total", "Lines an output refused", MetricType::Counter, {}))
            w.sample({}, static_cast<double>(rs.write_errors));
        if (auto drops = ctx_.sensors.read_drop_counters();
            drops && w.family("modelwarden_kernel_drops_total", "Records the kernel could not deliver, by reason",
                              MetricType::Counter, {"reason"})) {
            static constexpr const char* kReasons[] = {"ringbuf_full", "scratch", "pending_full", "task_map_full"};
            for (std::size_t i = 0; i < drops->by_reason.size() && i < std::size(kReasons); ++i)
                w.sample({kReasons[i]}, static_cast<double>(drops->by_reason[i]));
        }
        if (w.family("modelwarden_process_table_entries", "Processes in the process table", MetricType::Gauge, {}))
            w.sample({}, static_cast<double>(ctx_.processes.size()));
        if (const auto* gen = ctx_.policies.current();
            gen && w.family("modelwarden_policy_generation", "Policy generation in force", MetricType::Gauge, {}))
            w.sample({}, static_cast<double>(gen->number));
        if (ctx_.spool && w.family("modelwarden_spool_bytes", "Bytes on disk in the spool", MetricType::Gauge, {}))
            w.sample({}, static_cast<double>(ctx_.spool->stats().disk_bytes.load()));
        if (ctx_.spool && w.family("modelwarden_spool_lost_total", "Spooled records given up by the spool's loss policy",
                                   MetricType::Counter, {"kind"})) {
            w.sample({"event"}, static_cast<double>(ctx_.spool->stats().lost_events.load()));
            w.sample({"alert"}, static_cast<double>(ctx_.spool->stats().lost_alerts.load()));
        }
        write_model_gate_metrics(w, gates_);
    });
}

Result<std::string> Operations::status_json() {
    const auto& st = ctx_.pipeline.stats();
    const auto& rs = ctx_.router.stats();
    nlohmann::json out;
    out["agent"] = {{"name", ctx_.config.agent_name},
                    {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::steady_clock::now() - started_).count()}};
    out["pipeline"] = {{"records", st.records},
                       {"decode_errors", st.decode_errors},
                       {"events", rs.events},
                       {"alerts", rs.alerts},
                       {"selections_confirmed", st.selections_confirmed},
                       {"selections_dropped", st.selections_dropped}};
    if (auto drops = ctx_.sensors.read_drop_counters()) out["kernel_drops"] = drops->total();
    out["process_table"] = ctx_.processes.size();
    if (const auto* gen = ctx_.policies.current()) {
        nlohmann::json workloads = nlohmann::json::array();
        for (const auto& w : gen->policies.workloads)
            workloads.push_back({{"name", w.name}, {"mode", policy::to_string(w.mode)}});
        out["policy"] = {{"generation", gen->number}, {"origin", gen->origin}, {"sha256", gen->sha256},
                         {"workloads", workloads}};
    }
    if (enforcement_) out["enforcement"] = nlohmann::json::parse(enforcement_->status_json());
    // What file/exec deny covers on this host (fanotify or alert-only), one line per rule.
    if (file_deny_) out["file_deny"] = file_deny_->status_lines();
    if (!gates_.empty()) {
        nlohmann::json gates = nlohmann::json::array();
        for (const auto& g : gates_)
            gates.push_back({{"workload", g.workload},
                             {"verifications", g.stats->verifications.load(std::memory_order_relaxed)},
                             {"approved", g.stats->approved.load(std::memory_order_relaxed)},
                             {"not_approved", g.stats->not_approved.load(std::memory_order_relaxed)},
                             {"denied", g.stats->denied.load(std::memory_order_relaxed)},
                             {"cache_hits", g.stats->cache_hits.load(std::memory_order_relaxed)},
                             {"pending", g.stats->pending.load(std::memory_order_relaxed)}});
        out["model_gates"] = gates;
    }
    return out.dump();
}

Result<std::string> Operations::events_json(const EventsQuery& query) {
    if (!ctx_.spool) return make_error("no spool configured: the agent keeps no queryable history", 503);
    (void)ctx_.spool->sync();
    auto records = query_spool(ctx_.spool->dir(), 0, std::nullopt, 1u << 20);
    if (!records) return make_error(records.error().message, 500);
    nlohmann::json out = nlohmann::json::array();
    const std::uint64_t since = query.since.value_or(0);
    for (const auto& r : records.value()) {
        if (r.sequence <= since) continue;
        if (!query.kind.empty() && query.kind != (r.kind == EventKind::Alert ? "alert" : "event")) continue;
        auto doc = nlohmann::json::parse(r.json, nullptr, false);
        out.push_back({{"sequence", r.sequence}, {"event", doc.is_discarded() ? nlohmann::json(r.json) : doc}});
        if (out.size() >= query.limit) break;
    }
    return out.dump();
}

Result<std::string> Operations::list_policies() { return ctx_.policies.describe_json(); }

Result<std::string> Operations::apply_policy(std::string_view yaml, std::string_view signature, const Caller& caller) {
    // With control.policy_keys set, only bundles signed by one of those keys are applied.
    std::string signer;
    if (!ctx_.config.policy_keys_dir.empty()) {
        auto keys = load_trusted_keys(ctx_.config.policy_keys_dir);
        if (!keys) return make_error(keys.error().message, 500);
        auto verified = verify_policy_signature(yaml, signature, keys.value());
        if (!verified) {
            record(caller.identity, "policy.apply.refused", "signature",
                   nlohmann::json{{"error", verified.error().message}}.dump());
            return verified.error();
        }
        signer = verified.value();
    }
    const auto before = ctx_.policies.current() ? ctx_.policies.current()->number : 0;
    auto r = ctx_.policies.apply_text(yaml, "api:" + caller.identity);
    if (!r) {
        record(caller.identity, "policy.apply.refused", fmt::format("generation {}", before),
               nlohmann::json{{"error", r.error().message}}.dump());
        return r.error();
    }
    // The change itself is audited by the policy store's listener, with its origin.
    if (!signer.empty()) record(caller.identity, "policy.signature", fmt::format("generation {}", r.value()), nlohmann::json{{"signer", signer}}.dump());
    return nlohmann::json{{"generation", r.value()}, {"previous", before}}.dump();
}

Result<std::string> Operations::rollback(const Caller& caller) {
    const auto before = ctx_.policies.current() ? ctx_.policies.current()->number : 0;
    auto r = ctx_.policies.rollback("api:" + caller.identity);
    if (!r) return r.error();
    return nlohmann::json{{"generation", r.value()}, {"previous", before}}.dump();
}

Result<std::string> Operations::lift_enforcement(std::string_view verb, std::string_view body, const Caller& caller) {
    if (!enforcement_) return make_error("enforcement actions are not available", 503);
    if (verb == "thaw") return enforcement_->thaw(body, caller.identity);
    if (verb == "release") return enforcement_->release(body, caller.identity);
    return make_error("unknown enforcement verb", 404);
}

}  // namespace mw
