// Runtime model gate: watched processes may open files under the model directories only after
// the agent approved them (manifest hash + signature + scan + card), via fanotify FAN_OPEN_PERM.
// First-open verification runs on a small verifier pool, never on the daemon's io_context.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "common/result.hpp"
#include "modelgate/fanotify_fd.hpp"
#include "modelgate/gate_stats.hpp"
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
    std::string workload;                 // the workload it gates: logs and metric labels
    std::vector<std::string> model_dirs;  // watched recursively (every sub-directory is marked)
    GateMode mode = GateMode::enforce;
    std::function<bool(pid_t)> is_watched;             // processes the gate applies to (io thread)
    std::function<void(const GateAlert&)> on_alert;    // denials, monitor-mode failures, tampering (io thread)
    unsigned verify_threads = 2;     // first-open verifications (hash + scan) run here
    std::size_t max_pending = 256;   // opens waiting for a verdict; beyond that an open fails closed
    // Called on a verifier thread just before a file is read, hashed and scanned.
    std::function<void(const std::string& path)> on_verify_start;
};

// Decides one open by a process: pure policy over the approver and the cache, testable without
// fanotify. The steps are public so the gate can run the slow one (verify) on another thread.
class OpenDecider {
public:
    OpenDecider(std::shared_ptr<const scanner::ModelApprover> approver, GateMode mode)
        : approver_(std::move(approver)), mode_(mode) {}

    // All steps in one call on this thread. Returns whether to allow; fills `alert` when something
    // is worth reporting.
    bool decide(pid_t pid, int fd, const std::string& path, GateAlert* alert);

    // Answer without reading the file: public metadata, or a cached verdict for this identity
    // (`from_cache` set when the answer is the cache's).
    std::optional<scanner::Decision> quick(const std::string& path, const std::optional<scanner::FileIdentity>& id,
                                           bool* from_cache = nullptr) const;
    // Reads, hashes and scans; as slow as the file is large. Thread-safe.
    scanner::Decision verify(int fd, const std::string& path, const std::atomic<bool>* cancel = nullptr) const;
    // Maps a decision to allow/deny for the gate's mode.
    bool conclude(const scanner::Decision& d, pid_t pid, const std::string& path, GateAlert* alert) const;

    scanner::VerdictCache& cache() { return cache_; }
    GateMode mode() const { return mode_; }

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

    void start();  // starts the verifier threads and arms the async wait on the fanotify fd
    // Cancels the wait and any verification in flight, answers every pending open exactly once
    // (deny in enforce mode: fail closed; allow in monitor mode) and joins the verifier threads.
    void stop();

    OpenDecider& decider() { return decider_; }
    const GateStats& stats() const { return stats_; }
    const std::string& workload() const { return cfg_.workload; }

private:
    // One open waiting for a verdict; `fd` is the fanotify event fd, closed once answered.
    struct Waiter {
        pid_t pid;
        int fd;
        std::string path;
    };
    // One file being verified, with every open that waits for its verdict.
    struct Job {
        std::optional<scanner::FileIdentity> id;
        std::string path;
        int read_fd = -1;  // a dup of the first event fd, owned by the job: answering never closes it
        std::vector<Waiter> waiters;
    };

    ModelGate(boost::asio::io_context& io, GateConfig cfg, FanotifyFd fan, int dup_fd,
              std::shared_ptr<const scanner::ModelApprover> approver);
    void arm();
    void drain();
    void on_open_perm(pid_t pid, int fd, const std::string& path);  // takes ownership of fd
    void enqueue(pid_t pid, int fd, const std::string& path, std::optional<scanner::FileIdentity> id);
    void work();
    void finish(const std::shared_ptr<Job>& job, const scanner::Decision& d, bool cacheable);
    void answer(const Waiter& w, bool allow);
    // conclude() for one watched open, counted by verdict.
    bool conclude_counted(const scanner::Decision& d, pid_t pid, const std::string& path, GateAlert* alert);
    void post_alert(GateAlert alert);

    boost::asio::io_context& io_;
    GateConfig cfg_;
    FanotifyFd fan_;
    boost::asio::posix::stream_descriptor sd_;  // owns a dup of the fanotify fd
    OpenDecider decider_;
    GateStats stats_;
    bool stopped_ = true;

    // Verifier pool state; everything below is guarded by mu_.
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<Job>> queue_;
    std::vector<std::shared_ptr<Job>> running_;
    std::size_t pending_ = 0;  // waiters in queue_ and running_
    bool stopping_ = false;
    std::atomic<bool> cancel_{false};
    std::vector<std::thread> workers_;
    // Alerts are posted to the io_context; this token tells a late handler the gate is gone.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace mw::modelgate
