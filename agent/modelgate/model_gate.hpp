// Runtime model gate: watched processes may open files under the model directories only after
// the agent approved them (manifest hash + signature + scan + card), via fanotify FAN_OPEN_PERM.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "common/result.hpp"
#include "modelgate/fanotify_fd.hpp"
#include "scanner/manifest.hpp"
#include "scanner/verdict_cache.hpp"

namespace mw::modelgate {

enum class GateMode { enforce, monitor };

struct GateAlert {
    pid_t pid = 0;
    std::string path;
    std::string reason;
    bool denied = false;   // the open was refused (enforce mode)
    bool tamper = false;   // a write to a file under a model directory
};

struct GateConfig {
    std::vector<std::string> model_dirs;  // watched recursively (every sub-directory is marked)
    GateMode mode = GateMode::enforce;
    std::function<bool(pid_t)> is_watched;             // processes the gate applies to
    std::function<void(const GateAlert&)> on_alert;    // denials, monitor-mode failures, tampering
};

// Decides one open by a process: pure policy over the approver and the cache, testable without
// fanotify. Returns whether to allow; fills `alert` when something is worth reporting.
class OpenDecider {
public:
    OpenDecider(std::shared_ptr<const scanner::ModelApprover> approver, GateMode mode)
        : approver_(std::move(approver)), mode_(mode) {}

    bool decide(pid_t pid, int fd, const std::string& path, GateAlert* alert);
    scanner::VerdictCache& cache() { return cache_; }

private:
    std::shared_ptr<const scanner::ModelApprover> approver_;
    GateMode mode_;
    scanner::VerdictCache cache_;
};

class ModelGate {
public:
    static Result<std::unique_ptr<ModelGate>> create(boost::asio::io_context& io, GateConfig cfg,
                                                     std::shared_ptr<const scanner::ModelApprover> approver);
    ~ModelGate();
    ModelGate(const ModelGate&) = delete;
    ModelGate& operator=(const ModelGate&) = delete;

    void start();  // arms the async wait on the fanotify fd
    void stop();   // cancels the wait; pending opens are allowed when the fd closes

    OpenDecider& decider() { return decider_; }

private:
    ModelGate(boost::asio::io_context& io, GateConfig cfg, FanotifyFd fan, int dup_fd,
              std::shared_ptr<const scanner::ModelApprover> approver);
    void arm();
    void drain();

    GateConfig cfg_;
    FanotifyFd fan_;
    boost::asio::posix::stream_descriptor sd_;  // owns a dup of the fanotify fd
    OpenDecider decider_;
    bool stopped_ = false;
};

}  // namespace mw::modelgate
