// File and exec deny for the daemon where BPF-LSM is refused: one fanotify group per policy
// generation on the policy's protected paths, re-planned on every policy change.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/result.hpp"
#include "enforcement/fanotify_deny.hpp"
#include "policy/model.hpp"

namespace mw {

class Pipeline;
namespace sensors { class Sensors; }

struct FileDenyOptions {
    bool mark_mounts = false;  // FAN_MARK_MOUNT on every real mount: allow lists enforced everywhere
};

class FileDeny {
public:
    FileDeny(boost::asio::io_context& io, sensors::Sensors& sensors, Pipeline& pipeline, FileDenyOptions options)
        : io_(io), sensors_(sensors), pipeline_(pipeline), options_(options) {}
    ~FileDeny() { stop(); }
    FileDeny(const FileDeny&) = delete;
    FileDeny& operator=(const FileDeny&) = delete;

    // Plans and arms a group for `policies`, then retires the previous one: both are armed
    // for a moment, so no open slips through between generations. A failure keeps the old group.
    Result<void> rearm(const policy::PolicySet& policies);
    void stop();

    // What is denied through fanotify and what stays alert-only, one line per rule.
    const std::vector<std::string>& status_lines() const { return status_; }
    const enforcement::FanotifyDeny* group() const { return group_.get(); }

private:
    boost::asio::io_context& io_;
    sensors::Sensors& sensors_;
    Pipeline& pipeline_;
    FileDenyOptions options_;
    std::unique_ptr<enforcement::FanotifyDeny> group_;
    std::vector<std::string> status_;
};

// Starts the fallback for the current policy; call only when BPF-LSM did not load (with LSM
// the kernel denies by itself). Re-arm it from PolicyStore::on_change.
Result<std::unique_ptr<FileDeny>> start_file_deny(boost::asio::io_context& io, const policy::PolicySet& policies,
                                                  sensors::Sensors& sensors, Pipeline& pipeline,
                                                  FileDenyOptions options = {});

}  // namespace mw
