// ProcessTable: every process the agent knows, keyed by (pid, start time) so pid reuse never
// mixes two processes; exited processes stay resolvable for a grace period so late records
// of short-lived processes are still attributed, then are reaped.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "model/process.hpp"
#include "process/cgroup_paths.hpp"
#include "process/entity_id.hpp"

namespace mw {

struct ProcessTableConfig {
    std::uint64_t exit_grace_ns = 30'000'000'000ull;  // by event time
    std::size_t max_entries = 65536;
    std::string proc_root = "/proc";
    std::string cgroup_root = "/sys/fs/cgroup";
    std::optional<std::string> host_boot_key;          // default: machine-id + boot_id
    std::size_t max_ancestry_load = 64;                // parents loaded from /proc per miss
};

// All pids are tgids. Fields mirror the kernel record header (mw_event_header).
struct ForkInfo {
    std::uint64_t timestamp_ns = 0;          // boot-clock ns
    std::uint32_t parent_pid = 0;
    std::uint64_t parent_start_time_ns = 0;
    std::uint32_t child_pid = 0;             // equal to parent_pid = a thread: ignored
    std::uint64_t child_start_time_ns = 0;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t cgroup_id = 0;
    std::uint32_t workload_id = 0;
};

struct ExecInfo {
    std::uint64_t timestamp_ns = 0;
    std::uint32_t pid = 0;
    std::uint64_t start_time_ns = 0;
    std::uint32_t ppid = 0;
    std::string_view executable;
    std::string_view argv;                   // NUL-separated, as in mw_exec_event
    bool args_truncated = false;
    std::string_view cwd;
    std::string_view comm;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t cgroup_id = 0;
    std::uint32_t workload_id = 0;
};

struct ExitInfo {
    std::uint64_t timestamp_ns = 0;
    std::uint32_t pid = 0;
    std::uint64_t start_time_ns = 0;
    std::int32_t exit_code = 0;              // raw wait status
};

struct ProcessTableStats {
    std::uint64_t loaded_from_proc = 0;
    std::uint64_t load_failures = 0;         // /proc read failed (usually: exited meanwhile)
    std::uint64_t reaped = 0;                // dropped after the grace period
    std::uint64_t evicted_exited = 0;        // dropped early because the table was full
    std::uint64_t evicted_live = 0;          // live entries dropped because the table was full
    std::uint64_t pid_reuse = 0;             // a live entry replaced by a new process with its pid
    std::uint64_t threads_ignored = 0;
};

// Pointers returned stay valid until the next call that changes the table (on_*, reap,
// lookup_or_load, scan_proc): the pipeline encodes an event before the next record.
class ProcessTable {
public:
    explicit ProcessTable(ProcessTableConfig config = {});

    const Process* on_fork(const ForkInfo& info);
    const Process* on_exec(const ExecInfo& info);
    const Process* on_exit(const ExitInfo& info);
    // The record of a known process carries another real uid/gid (setuid and friends since
    // the last record): the process takes them. nullptr when this exact process is unknown.
    const Process* on_creds(std::uint32_t pid, std::uint64_t start_time_ns, std::uint32_t uid, std::uint32_t gid);

    // Latest process with this pid (possibly exited, within the grace period).
    const Process* lookup(std::uint32_t pid) const;
    // Exactly this process (start time compared at /proc tick granularity).
    const Process* lookup(std::uint32_t pid, std::uint64_t start_time_ns) const;
    // As lookup, reading /proc when the process is unknown (e.g. started before the agent);
    // its parent chain is loaded too. nullptr when it is gone (a normal race with exit).
    const Process* lookup_or_load(std::uint32_t pid);
    const Process* lookup_or_load(std::uint32_t pid, std::uint64_t start_time_ns);

    // Loads every running process not in the table yet; returns how many were added.
    std::size_t scan_proc();

    // Parent first, up to init (pid 1) or the first unknown parent; at most out.size().
    std::size_t ancestors(const Process& process, std::span<const Process*> out) const;

    // Drops processes that exited more than the grace period before now_ns (boot-clock ns).
    // Exited processes that still have children in the table stay until those go.
    void reap(std::uint64_t now_ns);

    std::size_t size() const { return entries_.size(); }
    const ProcessTableStats& stats() const { return stats_; }
    const EntityIdGenerator& entity_ids() const { return ids_; }

private:
    struct Key {
        std::uint32_t pid;
        std::uint64_t tick;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept {
            return std::hash<std::uint64_t>{}((k.tick * 0x9E3779B97F4A7C15ull) ^ k.pid);
        }
    };
    struct Entry {
        Process process;
        std::uint32_t children = 0;   // entries whose parent key is this one
        bool lingering = false;       // past the grace period, kept for its children
    };

    Key key_of(std::uint32_t pid, std::uint64_t start_time_ns) const { return {pid, start_time_ns / tick_ns_}; }
    Entry* find(const Key& k);
    const Entry* find(const Key& k) const;
    const Process* parent_of(const Process& p) const;
    Entry& insert(Process process);
    void erase(const Key& k);
    void make_room();
    const Process* load(std::uint32_t pid);
    // Every change to a Process goes through here: the encoder's cached fragments key on it.
    static void touch(Process& p);

    ProcessTableConfig config_;
    std::uint64_t tick_ns_;
    EntityIdGenerator ids_;
    CgroupPaths cgroups_;
    std::unordered_map<Key, Entry, KeyHash> entries_;
    std::unordered_map<std::uint32_t, Key> by_pid_;        // newest entry per pid
    std::deque<std::pair<std::uint64_t, Key>> exited_;     // exit time order
    std::uint64_t last_reap_ns_ = 0;
    ProcessTableStats stats_;
};

}  // namespace mw
