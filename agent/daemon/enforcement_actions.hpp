// The enforcement actions user space carries out (freeze; isolate where the kernel did not),
// and their reversal by an operator (thaw, release) through the control API and the CLI.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "pipeline/pipeline.hpp"
#include "policy/model.hpp"

namespace mw {

namespace sensors { class Sensors; }

// A freeze in force: one cgroup, frozen by this agent (or found frozen under
// modelwarden.slice at start-up, after a restart).
struct FrozenGroup {
    std::string workload;
    std::string cgroup;          // absolute directory under the cgroup2 mount
    std::vector<int> pids;       // the processes frozen there (at freeze time)
    std::uint64_t since_unix = 0;
    bool created = false;        // modelwarden.slice/<workload>-<pid>, made for this freeze
};

class EnforcementActions final : public ActionHook {
public:
    using AuditFn = std::function<void(std::string_view actor, std::string_view action, std::string_view object,
                                       std::string details_json)>;

    // cgroup2_root: the cgroup v2 mount ("" = freeze unavailable: every freeze alert says so).
    EnforcementActions(sensors::Sensors& sensors, std::string cgroup2_root);

    // The policy set in force (names <-> ids); re-applies isolation to workloads isolated in
    // an earlier generation, since a policy swap rewrites every workload's flags.
    void set_policies(const policy::PolicySet* policies);
    void set_audit(AuditFn audit) { audit_ = std::move(audit); }

    // ActionHook: freeze the violating workload instance, or isolate the workload.
    void act(const policy::WorkloadPolicy& workload, std::uint32_t workload_id, const policy::Verdict& verdict,
             SecurityEvent& event) override;

    // Control API (POST /v1/enforcement/thaw | /v1/enforcement/release). `body` is JSON with
    // one of {"workload": NAME}, {"pid": N}, {"cgroup": PATH} (thaw; PATH absolute or relative
    // to the cgroup2 mount). Errors carry HTTP codes: 400 bad body, 404 nothing matched.
    Result<std::string> thaw(std::string_view body, std::string_view actor);
    Result<std::string> release(std::string_view body, std::string_view actor);

    // {"frozen": [...], "isolated": [...]} for `modelwarden status`.
    std::string status_json() const;

    const std::vector<FrozenGroup>& frozen() const { return frozen_; }

private:
    void freeze(const policy::WorkloadPolicy& workload, SecurityEvent& event);
    void isolate(const policy::WorkloadPolicy& workload, std::uint32_t workload_id, SecurityEvent& event);
    Result<void> set_isolated(std::uint32_t workload_id, bool isolated);
    std::uint32_t id_of(std::string_view name) const;
    void audit(std::string_view actor, std::string_view action, std::string_view object, std::string details);
    void adopt_frozen_groups();

    sensors::Sensors& sensors_;
    std::string cgroup2_root_;
    const policy::PolicySet* policies_ = nullptr;
    AuditFn audit_;
    std::vector<FrozenGroup> frozen_;
    std::vector<std::string> isolated_;  // workload names
    std::string detail_;                 // the current alert's enforcement.detail
};

}  // namespace mw
