// File/exec deny fallback in the daemon (see file_deny.hpp): the fanotify reader thread
// judges; alerts are built on the io_context like every other alert.
#include "daemon/file_deny.hpp"

#include <time.h>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pipeline/pipeline.hpp"
#include "sensors/sensors.hpp"

namespace mw {
namespace {

std::uint64_t boottime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

Result<void> FileDeny::rearm(const policy::PolicySet& policies) {
    enforcement::PlanOptions plan_options;
    plan_options.mark_mounts = options_.mark_mounts;
    auto plan = enforcement::plan_file_deny(policies, plan_options);
    std::unique_ptr<enforcement::FanotifyDeny> next;
    if (!plan.marks.empty()) {
        enforcement::FanotifyDenyConfig cfg;
        cfg.policies = policies;
        cfg.plan = std::move(plan);
        // The kernel's watched-task map decides membership, as for the kernel's own verdicts.
        cfg.workload_of = [&sensors = sensors_](std::uint32_t tgid) -> std::optional<std::uint32_t> {
            auto state = sensors.task_state(tgid);
            if (!state) return std::nullopt;
            return state->workload_id;
        };
        cfg.on_deny = [&io = io_, &pipeline = pipeline_](const enforcement::DeniedOpen& d) {
            const bool exec = d.intent == enforcement::OpenIntent::exec;
            // Noted before the opener gets EPERM, so its syscall record is known when it comes.
            pipeline.note_agent_refusal(d.tid, exec ? MW_EVENT_EXEC_ATTEMPT : MW_EVENT_FILE_OPEN, boottime_ns());
            boost::asio::post(io, [&pipeline, d] {
                const bool is_exec = d.intent == enforcement::OpenIntent::exec;
                const std::string reason =
                    d.matched.empty()
                        ? fmt::format("{} outside the allow list", is_exec ? "exec" : d.intent == enforcement::OpenIntent::write ? "write" : "read")
                        : fmt::format("sensitive path (matches {})", d.matched);
                Pipeline::AgentAlert alert;
                alert.pid = d.tgid;
                alert.rule = d.rule;
                alert.category = is_exec ? "process" : "file";
                alert.action = is_exec ? "exec" : "open";
                alert.file_path = d.path;
                alert.reason = reason;
                alert.enforcement_action = "deny";
                alert.applied = true;
                alert.succeeded = true;
                alert.detail = is_exec ? "denied by the agent (fanotify FAN_OPEN_EXEC_PERM)"
                                       : "denied by the agent (fanotify FAN_OPEN_PERM)";
                pipeline.report_agent_alert(alert);
            });
        };
        auto group = enforcement::FanotifyDeny::create(std::move(cfg));
        if (!group) return group.error();
        if (auto r = (*group)->start(); !r) return r.error();
        next = std::move(group).value();
    }
    status_ = next ? next->plan().status_lines() : plan.status_lines();
    for (const auto& line : status_) spdlog::info("{}", line);
    if (group_) group_->stop();
    group_ = std::move(next);
    return {};
}

void FileDeny::stop() {
    if (group_) group_->stop();
    group_.reset();
}

Result<std::unique_ptr<FileDeny>> start_file_deny(boost::asio::io_context& io, const policy::PolicySet& policies,
                                                  sensors::Sensors& sensors, Pipeline& pipeline,
                                                  FileDenyOptions options) {
    auto deny = std::make_unique<FileDeny>(io, sensors, pipeline, options);
    if (auto r = deny->rearm(policies); !r) return make_error(fmt::format("file deny: {}", r.error().message), r.error().code);
    return deny;
}

}  // namespace mw
