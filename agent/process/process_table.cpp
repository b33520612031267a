// ProcessTable: fork/exec/exit bookkeeping, /proc loading, ancestry and reaping.
#include "process/process_table.hpp"

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "process/proc_reader.hpp"

namespace mw {

ProcessTable::ProcessTable(ProcessTableConfig config)
    : config_(std::move(config)),
      tick_ns_(proc_tick_ns()),
      ids_(config_.host_boot_key ? *config_.host_boot_key : read_host_boot_key()),
      cgroups_(config_.cgroup_root) {
    if (config_.max_entries == 0) config_.max_entries = 1;
}

void ProcessTable::touch(Process& p) {
    // Process-wide, not per table: a stamp names one state of one process even when tests or
    // benchmarks run several tables against one encoder.
    static std::atomic<std::uint64_t> next{0};
    p.revision = next.fetch_add(1, std::memory_order_relaxed) + 1;
}

ProcessTable::Entry* ProcessTable::find(const Key& k) {
    auto it = entries_.find(k);
    return it == entries_.end() ? nullptr : &it->second;
}

const ProcessTable::Entry* ProcessTable::find(const Key& k) const {
    auto it = entries_.find(k);
    return it == entries_.end() ? nullptr : &it->second;
}

const Process* ProcessTable::lookup(std::uint32_t pid) const {
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) return nullptr;
    const Entry* e = find(it->second);
    return e ? &e->process : nullptr;
}

const Process* ProcessTable::lookup(std::uint32_t pid, std::uint64_t start_time_ns) const {
    const Entry* e = find(key_of(pid, start_time_ns));
    return e ? &e->process : nullptr;
}

const Process* ProcessTable::parent_of(const Process& p) const {
    if (p.ppid == 0 || p.ppid == p.pid) return nullptr;
    if (p.parent_start_time_ns != 0) return lookup(p.ppid, p.parent_start_time_ns);
    // Parent identity unknown: the newest process with that pid, if it is older than the child.
    const Process* parent = lookup(p.ppid);
    return parent && parent->start_time_ns <= p.start_time_ns ? parent : nullptr;
}

std::size_t ProcessTable::ancestors(const Process& process, std::span<const Process*> out) const {
    std::size_t n = 0;
    const Process* cur = &process;
    while (n < out.size()) {
        const Process* parent = parent_of(*cur);
        if (parent == nullptr || parent == &process) break;
        out[n++] = parent;
        cur = parent;
    }
    return n;
}

void ProcessTable::erase(const Key& first) {
    Key k = first;
    for (;;) {
        auto it = entries_.find(k);
        if (it == entries_.end()) return;
        const Process& p = it->second.process;
        std::optional<Key> parent;
        if (p.ppid != 0 && p.parent_start_time_ns != 0) parent = key_of(p.ppid, p.parent_start_time_ns);
        if (auto bp = by_pid_.find(p.pid); bp != by_pid_.end() && bp->second == k) by_pid_.erase(bp);
        entries_.erase(it);
        if (!parent) return;
        Entry* pe = find(*parent);
        if (pe == nullptr || pe->children == 0) return;
        if (--pe->children != 0 || !pe->lingering) return;
        // The last child of an already-expired parent is gone: the parent goes too.
        ++stats_.reaped;
        k = *parent;
    }
}

void ProcessTable::make_room() {
    while (entries_.size() >= config_.max_entries) {
        bool evicted = false;
        while (!exited_.empty()) {
            auto [t, k] = exited_.front();
            exited_.pop_front();
            Entry* e = find(k);
            if (e && e->process.exited && e->process.exit_time_ns == t) {
                erase(k);
                ++stats_.evicted_exited;
                evicted = true;
                break;
            }
        }
        if (evicted) continue;
        // Only live entries left: drop one (never init), counted so the metric shows it.
        auto victim = std::find_if(entries_.begin(), entries_.end(),
                                   [](const auto& kv) { return kv.second.process.pid != 1; });
        if (victim == entries_.end()) victim = entries_.begin();
        if (victim == entries_.end()) return;
        spdlog::debug("process: table full ({} entries), evicting live pid {}", entries_.size(),
                      victim->second.process.pid);
        erase(victim->first);
        ++stats_.evicted_live;
    }
}

ProcessTable::Entry& ProcessTable::insert(Process process) {
    const Key k = key_of(process.pid, process.start_time_ns);
    if (Entry* existing = find(k)) return *existing;  // callers check first; never double-count children
    make_room();
    if (auto bp = by_pid_.find(process.pid); bp != by_pid_.end() && !(bp->second == k)) {
        // A new process with a known pid: the old one exited without us seeing it.
        Entry* old = find(bp->second);
        if (old && !old->process.exited) {
            ++stats_.pid_reuse;
            old->process.exited = true;
            old->process.exit_time_ns = std::max(last_reap_ns_, old->process.start_time_ns);
            touch(old->process);
            exited_.emplace_back(old->process.exit_time_ns, bp->second);
        }
    }
    process.entity_id = ids_.make(process.pid, process.start_time_ns);
    if (process.ppid != 0 && process.parent_start_time_ns != 0) {
        if (Entry* pe = find(key_of(process.ppid, process.parent_start_time_ns))) ++pe->children;
    }
    auto [it, inserted] = entries_.try_emplace(k);
    it->second.process = std::move(process);
    touch(it->second.process);
    by_pid_[it->second.process.pid] = k;
    return it->second;
}

void ProcessTable::reap(std::uint64_t now_ns) {
    last_reap_ns_ = std::max(last_reap_ns_, now_ns);
    while (!exited_.empty() && exited_.front().first + config_.exit_grace_ns <= last_reap_ns_) {
        auto [t, k] = exited_.front();
        exited_.pop_front();
        Entry* e = find(k);
        if (e == nullptr || !e->process.exited || e->process.exit_time_ns != t) continue;  // stale
        if (e->children != 0) {
            e->lingering = true;
            continue;
        }
        erase(k);
        ++stats_.reaped;
    }
}

const Process* ProcessTable::on_fork(const ForkInfo& info) {
    reap(info.timestamp_ns);
    if (info.child_pid == info.parent_pid) {
        ++stats_.threads_ignored;
        return lookup(info.parent_pid);
    }
    if (const Process* existing = lookup(info.child_pid, info.child_start_time_ns)) return existing;

    Process child;
    // Copy from the parent before inserting: insertion may evict it when the table is full.
    if (const Process* parent = lookup_or_load(info.parent_pid, info.parent_start_time_ns)) {
        child.executable = parent->executable;
        child.name = parent->name;
        child.args = parent->args;
        child.args_truncated = parent->args_truncated;
        child.cwd = parent->cwd;
        child.cgroup_id = parent->cgroup_id;
        child.cgroup_path = parent->cgroup_path;
    }
    child.pid = info.child_pid;
    child.ppid = info.parent_pid;
    child.start_time_ns = info.child_start_time_ns;
    child.parent_start_time_ns = info.parent_start_time_ns;
    child.uid = info.uid;
    child.gid = info.gid;
    child.workload_id = info.workload_id;
    if (info.cgroup_id != 0 && info.cgroup_id != child.cgroup_id) {
        child.cgroup_id = info.cgroup_id;
        child.cgroup_path = std::string(cgroups_.resolve(info.cgroup_id));
    }
    return &insert(std::move(child)).process;
}

const Process* ProcessTable::on_exec(const ExecInfo& info) {
    reap(info.timestamp_ns);
    Entry* e = find(key_of(info.pid, info.start_time_ns));
    if (e == nullptr) {
        // Fork not seen (started before the agent, or the record was lost).
        Process p;
        p.pid = info.pid;
        p.ppid = info.ppid;
        p.start_time_ns = info.start_time_ns;
        const Process* parent = info.ppid ? lookup_or_load(info.ppid) : nullptr;
        if (parent && parent->start_time_ns <= info.start_time_ns) p.parent_start_time_ns = parent->start_time_ns;
        e = &insert(std::move(p));
    }
    Process& p = e->process;
    p.executable.assign(info.executable);
    p.name.assign(info.comm.substr(0, std::min(info.comm.find('\0'), info.comm.size())));
    p.args.clear();
    std::string_view argv = info.argv;
    while (!argv.empty()) {
        std::size_t nul = argv.find('\0');
        if (nul == std::string_view::npos) nul = argv.size();
        p.args.emplace_back(argv.substr(0, nul));
        argv.remove_prefix(std::min(argv.size(), nul + 1));
    }
    p.args_truncated = info.args_truncated;
    p.cwd.assign(info.cwd);
    p.uid = info.uid;
    p.gid = info.gid;
    p.workload_id = info.workload_id;
    if (info.cgroup_id != 0 && (info.cgroup_id != p.cgroup_id || p.cgroup_path.empty())) {
        p.cgroup_id = info.cgroup_id;
        p.cgroup_path = std::string(cgroups_.resolve(info.cgroup_id));
    }
    touch(p);
    return &p;
}

const Process* ProcessTable::on_exit(const ExitInfo& info) {
    reap(info.timestamp_ns);
    Entry* e = find(key_of(info.pid, info.start_time_ns));
    if (e == nullptr) return nullptr;
    Process& p = e->process;
    if (!p.exited) {
        p.exited = true;
        p.exit_code = info.exit_code;
        p.exit_time_ns = info.timestamp_ns;
        exited_.emplace_back(info.timestamp_ns, key_of(p.pid, p.start_time_ns));
        touch(p);
    }
    return &p;
}

const Process* ProcessTable::on_creds(std::uint32_t pid, std::uint64_t start_time_ns, std::uint32_t uid,
                                      std::uint32_t gid) {
    Entry* e = find(key_of(pid, start_time_ns));
    if (e == nullptr) return nullptr;
    Process& p = e->process;
    if (p.uid != uid || p.gid != gid) {
        p.uid = uid;
        p.gid = gid;
        touch(p);
    }
    return &p;
}

const Process* ProcessTable::load(std::uint32_t pid) {
    // Read the process and its unknown ancestors, then insert top-down so parents count children.
    std::vector<Process> chain;
    std::uint32_t next = pid;
    while (next != 0 && chain.size() <= config_.max_ancestry_load) {
        auto r = read_proc_process(config_.proc_root, next, tick_ns_);
        if (!r) {
            if (chain.empty() && r.error().code == ESRCH) {
                // A thread id: the process is its thread group leader. Threads never get entries.
                std::uint32_t tgid = read_proc_tgid(config_.proc_root, next);
                if (tgid != 0 && tgid != next) return lookup_or_load(tgid);
            }
            if (chain.empty()) {
                ++stats_.load_failures;
                spdlog::debug("process: cannot load pid {} from /proc: {}", next, r.error().message);
                return nullptr;
            }
            break;  // an ancestor vanished: keep what we have
        }
        Process& p = chain.emplace_back(std::move(r.value()));
        p.cgroup_id = cgroups_.id_of(p.cgroup_path);
        if (p.ppid == 0 || p.parent_start_time_ns == 0 || find(key_of(p.ppid, p.parent_start_time_ns))) break;
        next = p.ppid;
    }
    const Key want = key_of(pid, chain.front().start_time_ns);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if (find(key_of(it->pid, it->start_time_ns))) continue;
        insert(std::move(*it));
        ++stats_.loaded_from_proc;
    }
    const Entry* e = find(want);
    return e ? &e->process : nullptr;
}

const Process* ProcessTable::lookup_or_load(std::uint32_t pid) {
    if (pid == 0) return nullptr;
    const Process* p = lookup(pid);
    if (p && !p->exited) return p;
    const Process* loaded = load(pid);
    return loaded ? loaded : p;
}

const Process* ProcessTable::lookup_or_load(std::uint32_t pid, std::uint64_t start_time_ns) {
    if (pid == 0) return nullptr;
    if (const Process* p = lookup(pid, start_time_ns)) return p;
    const Process* loaded = load(pid);
    if (loaded && key_of(loaded->pid, loaded->start_time_ns) == key_of(pid, start_time_ns)) return loaded;
    return nullptr;
}

std::size_t ProcessTable::scan_proc() {
    DIR* dir = ::opendir(config_.proc_root.c_str());
    if (dir == nullptr) {
        spdlog::warn("process: cannot list {}: {}", config_.proc_root, std::strerror(errno));
        return 0;
    }
    std::vector<std::uint32_t> pids;
    while (dirent* de = ::readdir(dir)) {
        std::string_view name = de->d_name;
        std::uint32_t pid = 0;
        auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (ec == std::errc() && p == name.data() + name.size() && pid != 0) pids.push_back(pid);
    }
    ::closedir(dir);
    const std::size_t before = stats_.loaded_from_proc;
    for (std::uint32_t pid : pids) {
        const Process* known = lookup(pid);
        if (known && !known->exited) continue;
        (void)load(pid);
    }
    return stats_.loaded_from_proc - before;
}

}  // namespace mw
