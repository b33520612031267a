// File and exec `deny` where BPF-LSM is refused: fanotify permission events (FAN_OPEN_PERM,
// FAN_OPEN_EXEC_PERM) on the policy's protected paths, judged with the user-space evaluator.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "modelgate/fanotify_fd.hpp"
#include "policy/evaluate.hpp"
#include "policy/model.hpp"

namespace mw::enforcement {

// ---- the mark plan: which inodes, directories and mounts to watch (pure, no fanotify) ----

enum class MarkKind : std::uint8_t { file, directory, mount };

struct MarkTarget {
    std::string path;
    MarkKind kind = MarkKind::directory;
    std::uint64_t mask = 0;  // FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM (| FAN_EVENT_ON_CHILD for directories)
    bool operator==(const MarkTarget&) const = default;
};

// One line of coverage per rule (and per sensitive path): denied through fanotify or alert-only.
struct CoverageEntry {
    std::string workload;
    std::string rule;     // "sensitive /etc/shadow", "read allow list", "exec allow list"
    bool denied = false;  // true: opens it governs are refused through fanotify
    std::string detail;   // what is marked, or why nothing can be
    std::vector<std::string> mark_paths;  // the marks this entry relies on
};

struct DenyPlan {
    std::vector<MarkTarget> marks;  // de-duplicated per (path, kind); masks merged
    std::vector<CoverageEntry> coverage;
    bool wants_exec = false;        // some mark carries FAN_OPEN_EXEC_PERM

    // "file deny: fanotify: workload W: sensitive /etc/shadow: file and /etc/ marked" /
    // "file deny: alert-only: workload W: read allow list: ..." - for the log and status.
    std::vector<std::string> status_lines() const;
};

struct PlanOptions {
    // Mark whole mounts (FAN_MARK_MOUNT) so read/write/exec allow lists are enforced everywhere.
    // Off by default: every open on such a mount then waits for the agent's answer.
    bool mark_mounts = false;
    // Directories whose direct children are watched for exec deny (FAN_OPEN_EXEC_PERM only):
    // where shells and tools live, and the world-writable places payloads are dropped.
    std::vector<std::string> exec_dirs = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                          "/sbin",           "/bin",           "/tmp",      "/var/tmp",
                                          "/dev/shm"};
    std::size_t max_marks = 4096;  // a glob whose walk would need more is reported alert-only
    std::string mountinfo = "/proc/self/mountinfo";
};

// The directory part of a glob's literal prefix, with a trailing '/':
// "/root/.ssh/**" -> "/root/.ssh/", "/home/*/.ssh/id_*" -> "/home/", "/etc/shadow" -> "/etc/".
std::string literal_directory(const policy::Glob& glob);

// Marks for every enforce-mode workload whose file or exec action is `deny`. Reads the
// filesystem (what exists, what is a directory, which filesystem refuses permission events).
DenyPlan plan_file_deny(const policy::PolicySet& policies, const PlanOptions& options = {});

// ---- the decision for one permission event (pure) ----

enum class OpenIntent : std::uint8_t { read, write, exec };

struct DenyDecision {
    bool deny = false;
    policy::Verdict verdict;  // verdict.rule set when the open violates the policy
};

// Deny only what the workload's policy says to deny, in enforce mode. Everything else is
// allowed here and left to the kernel records (alert, kill).
DenyDecision decide_open(const policy::WorkloadPolicy& workload, const std::string& path, OpenIntent intent,
                         std::uint32_t tgid);

// O_* flags of the open the thread `tid` is blocked in, from /proc/<tid>/syscall (the event
// fd carries the listener's flags, not the opener's). nullopt: not an open syscall we know.
std::optional<std::uint32_t> blocked_open_flags(pid_t tid);

// Whether O_* flags open for writing (same reading as the pipeline's).
bool opens_for_write(std::uint32_t flags);

// ---- the fanotify group and its reader thread ----

struct DeniedOpen {
    std::uint32_t tgid = 0;
    std::uint32_t tid = 0;
    std::uint32_t workload_id = 0;
    std::string path;
    OpenIntent intent = OpenIntent::read;
    policy::RuleKind rule = policy::RuleKind::sensitive_file_access;
    std::string matched;  // the sensitive glob, when one fired
};

struct FanotifyDenyConfig {
    policy::PolicySet policies;  // this generation's (workload ids are positions + 1)
    DenyPlan plan;
    // The kernel's watched-task map: the workload of a tgid, nullopt when not watched.
    std::function<std::optional<std::uint32_t>(std::uint32_t tgid)> workload_of;
    // Called on the reader thread just before the opener gets FAN_DENY. Must not block and
    // must not open files (a marked open by this process would wait for this very thread).
    std::function<void(const DeniedOpen&)> on_deny;
};

struct FanotifyDenyStats {
    std::atomic<std::uint64_t> events{0};
    std::atomic<std::uint64_t> denied{0};
    std::atomic<std::uint64_t> allowed_on_error{0};
};

// The group runs on its own thread, not the daemon's io_context: the agent's own opens of
// marked files (policy reload reads /etc/passwd) would otherwise wait for the very loop that
// must answer them.
class FanotifyDeny {
public:
    static Result<std::unique_ptr<FanotifyDeny>> create(FanotifyDenyConfig config);
    ~FanotifyDeny();
    FanotifyDeny(const FanotifyDeny&) = delete;
    FanotifyDeny& operator=(const FanotifyDeny&) = delete;

    Result<void> start();
    // Answers every event still queued with FAN_ALLOW (logged), joins the thread. Idempotent.
    void stop();

    const DenyPlan& plan() const { return config_.plan; }
    const FanotifyDenyStats& stats() const { return stats_; }

private:
    FanotifyDeny(FanotifyDenyConfig config, modelgate::FanotifyFd fan, int stop_fd);
    void run();
    // Reads and answers what is queued; returns false when the fd failed for good.
    bool drain(bool stopping);
    bool judge(std::uint32_t tid, int fd, std::uint64_t mask);

    FanotifyDenyConfig config_;
    modelgate::FanotifyFd fan_;
    int stop_fd_ = -1;  // eventfd: wakes the reader for stop()
    std::thread thread_;
    FanotifyDenyStats stats_;
};

}  // namespace mw::enforcement
