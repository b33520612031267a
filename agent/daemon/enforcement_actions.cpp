// Freeze and isolate as user space carries them out, and thaw/release for operators.
// Runs on the event loop: every step is a few file writes or one map update, never a wait.
#include "daemon/enforcement_actions.hpp"

#include <fcntl.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "enforcement/cgroup_freezer.hpp"
#include "model/process.hpp"
#include "sensors/sensors.hpp"

namespace mw {

namespace fs = std::filesystem;

EnforcementActions::EnforcementActions(sensors::Sensors& sensors, std::string cgroup2_root)
    : sensors_(sensors), cgroup2_root_(std::move(cgroup2_root)) {
    adopt_frozen_groups();
}

// Groups a previous agent froze stay frozen across its exit; list them so they can be thawed.
void EnforcementActions::adopt_frozen_groups() {
    if (cgroup2_root_.empty()) return;
    std::error_code ec;
    for (fs::directory_iterator it(cgroup2_root_ + "/modelwarden.slice", ec), end; !ec && it != end; it.increment(ec)) {
        if (!it->is_directory(ec)) continue;
        const std::string dir = it->path().string();
        auto frozen = enforcement::is_frozen(dir);
        if (!frozen || !*frozen) continue;
        FrozenGroup g;
        const std::string name = it->path().filename().string();
        g.workload = name.substr(0, name.rfind('-'));
        g.cgroup = dir;
        if (auto pids = enforcement::cgroup_pids(dir)) g.pids.assign(pids->begin(), pids->end());
        g.created = true;
        spdlog::info("enforcement: {} is still frozen (workload {}, {} process(es))", dir, g.workload, g.pids.size());
        frozen_.push_back(std::move(g));
    }
}

void EnforcementActions::set_policies(const policy::PolicySet* policies) {
    policies_ = policies;
    std::vector<std::string> kept;
    for (const auto& name : isolated_) {
        const std::uint32_t id = id_of(name);
        if (id == 0) {
            spdlog::info("enforcement: workload {} is no longer in the policy: its isolation ends", name);
            continue;
        }
        if (auto r = set_isolated(id, true); !r)
            spdlog::error("enforcement: cannot keep workload {} isolated: {}", name, r.error().message);
        kept.push_back(name);
    }
    isolated_ = std::move(kept);
}

std::uint32_t EnforcementActions::id_of(std::string_view name) const {
    if (!policies_) return 0;
    for (std::size_t i = 0; i < policies_->workloads.size(); ++i)
        if (policies_->workloads[i].name == name) return static_cast<std::uint32_t>(i + 1);
    return 0;
}

void EnforcementActions::audit(std::string_view actor, std::string_view action, std::string_view object,
                               std::string details) {
    if (audit_) audit_(actor, action, object, std::move(details));
}

void EnforcementActions::act(const policy::WorkloadPolicy& workload, std::uint32_t workload_id,
                             const policy::Verdict& verdict, SecurityEvent& event) {
    if (verdict.action == policy::Action::freeze) freeze(workload, event);
    else if (verdict.action == policy::Action::isolate) isolate(workload, workload_id, event);
}

Result<void> EnforcementActions::set_isolated(std::uint32_t workload_id, bool isolated) {
    auto config = sensors_.workload(workload_id);
    if (!config) return config.error();
    mw_workload_config c = *config;
    if (isolated) c.flags |= MW_WL_ISOLATED;
    else c.flags &= ~MW_WL_ISOLATED;
    return sensors_.set_workload(workload_id, c);
}

void EnforcementActions::isolate(const policy::WorkloadPolicy& workload, std::uint32_t workload_id,
                                 SecurityEvent& event) {
    const bool fresh = std::find(isolated_.begin(), isolated_.end(), workload.name) == isolated_.end();
    if (fresh) isolated_.push_back(workload.name);
    if (event.enforcement.applied) {
        // the kernel set MW_WL_ISOLATED itself (exec, egress): remembered, audited once
        if (fresh) audit("agent", "enforcement.isolate", workload.name, nlohmann::json{{"by", "kernel"}}.dump());
        return;
    }
    auto r = set_isolated(workload_id, true);
    event.enforcement.applied = true;
    event.enforcement.succeeded = r.ok();
    detail_ = r ? fmt::format("isolated by the agent: all further egress of workload {} denied", workload.name)
                : fmt::format("isolate failed: {}", r.error().message);
    event.enforcement.detail = detail_;
    if (!r) spdlog::error("enforcement: cannot isolate workload {}: {}", workload.name, r.error().message);
    audit("agent", "enforcement.isolate", workload.name,
          nlohmann::json{{"by", "agent"}, {"succeeded", r.ok()}}.dump());
}

void EnforcementActions::freeze(const policy::WorkloadPolicy& workload, SecurityEvent& event) {
    // What the kernel already did (a refused connect) stays in the detail, after the freeze.
    const std::string kernel_part(event.enforcement.detail);
    const bool kernel_ok = !event.enforcement.applied || event.enforcement.succeeded;
    auto say = [&](bool ok, std::string text) {
        event.enforcement.applied = true;
        event.enforcement.succeeded = ok && kernel_ok;
        detail_ = kernel_part.empty() ? std::move(text) : fmt::format("{}; {}", text, kernel_part);
        event.enforcement.detail = detail_;
    };
    const Process* root = event.workload_root ? event.workload_root : event.process;
    if (!root || root->exited) return say(false, "freeze failed: the workload's process is unknown or gone");
    if (cgroup2_root_.empty()) return say(false, "freeze failed: no cgroup v2 mount on this host");
    const auto pid = static_cast<pid_t>(root->pid);
    for (const auto& g : frozen_)
        if (std::find(g.pids.begin(), g.pids.end(), pid) != g.pids.end())
            return say(true, fmt::format("frozen: already frozen in {}", g.cgroup));

    auto current = enforcement::cgroup_dir_of(pid, cgroup2_root_);
    if (!current) return say(false, fmt::format("freeze failed: {}", current.error().message));
    auto tree = enforcement::process_tree(pid);
    // Freeze in place only a cgroup that holds nothing but this workload instance and has no
    // child cgroups (freezing propagates to them); the root and shared scopes never qualify.
    bool own = false;
    if (*current != cgroup2_root_) {
        auto members = enforcement::cgroup_pids(*current);
        bool children = false;
        std::error_code ec;
        for (fs::directory_iterator it(*current, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_directory(ec)) children = true;
        own = members && !children && std::all_of(members->begin(), members->end(), [&](pid_t p) {
                  return std::find(tree.begin(), tree.end(), p) != tree.end();
              });
    }

    FrozenGroup group;
    group.workload = workload.name;
    group.since_unix = static_cast<std::uint64_t>(std::time(nullptr));
    if (own) {
        if (auto r = enforcement::set_frozen(*current, true); !r)
            return say(false, fmt::format("freeze failed: {}", r.error().message));
        group.cgroup = *current;
        group.pids.assign(tree.begin(), tree.end());
    } else {
        auto dir = enforcement::make_frozen_cgroup(cgroup2_root_, fmt::format("{}-{}", workload.name, pid));
        if (!dir) return say(false, fmt::format("freeze failed: {}", dir.error().message));
        group.cgroup = *dir;
        group.created = true;
        // A task moved into the frozen cgroup stops there; a child it forked just before the
        // move is still outside, so scan again until a pass finds nobody left to move.
        for (int pass = 0; pass < 8; ++pass) {
            bool moved = false;
            for (pid_t p : tree) {
                if (std::find(group.pids.begin(), group.pids.end(), p) != group.pids.end()) continue;
                auto r = enforcement::move_to_cgroup(p, group.cgroup);
                if (!r && p == pid) {
                    (void)enforcement::set_frozen(group.cgroup, false);
                    enforcement::remove_if_empty(group.cgroup);
                    return say(false, fmt::format("freeze failed: {}", r.error().message));
                }
                if (r) {
                    group.pids.push_back(p);
                    moved = true;
                }
            }
            if (!moved) break;
            tree = enforcement::process_tree(pid);
        }
    }
    spdlog::warn("enforcement: froze workload {} ({} process(es)) in {}", workload.name, group.pids.size(), group.cgroup);
    say(true, fmt::format("frozen: {} process(es) in cgroup {}{}", group.pids.size(), group.cgroup,
                          group.created ? fmt::format(" (moved from {})", *current) : ""));
    audit("agent", "enforcement.freeze", group.cgroup,
          nlohmann::json{{"workload", group.workload}, {"pids", group.pids}, {"created", group.created}}.dump());
    frozen_.push_back(std::move(group));
}

namespace {

struct Target {
    std::string workload;
    std::optional<int> pid;
    std::string cgroup;
};

Result<Target> parse_target(std::string_view body, bool allow_cgroup) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    const char* expected = allow_cgroup ? R"(a JSON object with one of "workload", "pid", "cgroup")"
                                        : R"(a JSON object with one of "workload", "pid")";
    if (j.is_discarded() || !j.is_object() || j.size() != 1) return make_error(fmt::format("the body must be {}", expected), 400);
    Target t;
    if (j.contains("workload") && j["workload"].is_string() && !j["workload"].get<std::string>().empty())
        t.workload = j["workload"].get<std::string>();
    else if (j.contains("pid") && j["pid"].is_number_integer() && j["pid"].get<long long>() > 0 &&
             j["pid"].get<long long>() < (1ll << 31))
        t.pid = static_cast<int>(j["pid"].get<long long>());
    else if (allow_cgroup && j.contains("cgroup") && j["cgroup"].is_string() && !j["cgroup"].get<std::string>().empty())
        t.cgroup = j["cgroup"].get<std::string>();
    else
        return make_error(fmt::format("the body must be {} (a non-empty name, a positive pid, a path)", expected), 400);
    return t;
}

}  // namespace

Result<std::string> EnforcementActions::thaw(std::string_view body, std::string_view actor) {
    auto target = parse_target(body, true);
    if (!target) return target.error();
    std::string cgroup = target->cgroup;
    if (!cgroup.empty() && !cgroup.starts_with(cgroup2_root_ + "/"))
        cgroup = cgroup2_root_ + (cgroup.front() == '/' ? "" : "/") + cgroup;
    std::string pid_cgroup;
    if (target->pid) {
        if (auto c = enforcement::cgroup_dir_of(*target->pid, cgroup2_root_)) pid_cgroup = *c;
    }
    nlohmann::json thawed = nlohmann::json::array();
    std::vector<std::string> failures;
    for (auto it = frozen_.begin(); it != frozen_.end();) {
        const bool match = (!target->workload.empty() && it->workload == target->workload) ||
                           (target->pid && (std::find(it->pids.begin(), it->pids.end(), *target->pid) != it->pids.end() ||
                                            pid_cgroup == it->cgroup)) ||
                           (!cgroup.empty() && it->cgroup == cgroup);
        if (!match) {
            ++it;
            continue;
        }
        if (auto r = enforcement::set_frozen(it->cgroup, false); !r) {
            failures.push_back(r.error().message);
            audit(actor, "enforcement.thaw.failed", it->cgroup, nlohmann::json{{"error", r.error().message}}.dump());
            ++it;
            continue;
        }
        spdlog::info("enforcement: thawed {} (workload {}) for {}", it->cgroup, it->workload, actor);
        audit(actor, "enforcement.thaw", it->cgroup, nlohmann::json{{"workload", it->workload}, {"pids", it->pids}}.dump());
        thawed.push_back({{"workload", it->workload}, {"cgroup", it->cgroup}, {"pids", it->pids}});
        it = frozen_.erase(it);
    }
    if (!failures.empty()) {
        std::string msg = "thaw failed:";
        for (const auto& f : failures) msg += " " + f;
        return make_error(msg, 500);
    }
    if (thawed.empty()) return make_error(fmt::format("no frozen group matches {}", body), 404);
    return nlohmann::json{{"thawed", thawed}}.dump();
}

Result<std::string> EnforcementActions::release(std::string_view body, std::string_view actor) {
    auto target = parse_target(body, false);
    if (!target) return target.error();
    std::uint32_t id = 0;
    if (target->pid) {
        auto st = sensors_.task_state(static_cast<std::uint32_t>(*target->pid));
        if (!st) return make_error(fmt::format("pid {} is not a watched workload process", *target->pid), 404);
        id = st->workload_id;
    } else {
        id = id_of(target->workload);
    }
    if (id == 0 || id == MW_WORKLOAD_PENDING || !policies_ || id > policies_->workloads.size())
        return make_error(fmt::format("no workload matches {}", body), 404);
    const std::string& name = policies_->workloads[id - 1].name;
    auto config = sensors_.workload(id);
    if (!config) return make_error(config.error().message, 500);
    if (!(config->flags & MW_WL_ISOLATED)) return make_error(fmt::format("workload {} is not isolated", name), 404);
    if (auto r = set_isolated(id, false); !r) return make_error(r.error().message, 500);
    isolated_.erase(std::remove(isolated_.begin(), isolated_.end(), name), isolated_.end());
    spdlog::info("enforcement: released workload {} from isolation for {}", name, actor);
    audit(actor, "enforcement.release", name, "{}");
    return nlohmann::json{{"released", name}}.dump();
}

std::string EnforcementActions::status_json() const {
    nlohmann::json frozen = nlohmann::json::array();
    for (const auto& g : frozen_) {
        auto now = enforcement::is_frozen(g.cgroup);
        frozen.push_back({{"workload", g.workload},
                          {"cgroup", g.cgroup},
                          {"pids", g.pids},
                          {"since", g.since_unix},
                          {"frozen", now ? nlohmann::json(*now) : nlohmann::json(now.error().message)}});
    }
    nlohmann::json isolated = nlohmann::json::array();
    if (policies_) {
        for (std::size_t i = 0; i < policies_->workloads.size(); ++i) {
            auto c = sensors_.workload(static_cast<std::uint32_t>(i + 1));
            if (c && (c->flags & MW_WL_ISOLATED)) isolated.push_back(policies_->workloads[i].name);
        }
    }
    return nlohmann::json{{"frozen", frozen}, {"isolated", isolated}}.dump();
}

}  // namespace mw
