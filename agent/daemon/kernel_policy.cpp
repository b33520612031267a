// Policy -> kernel maps, and start-up marking of running workloads (see kernel_policy.hpp).
#include "daemon/kernel_policy.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "process/process_table.hpp"
#include "sensors/sensors.hpp"

namespace mw {

std::string find_cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // "36 25 0:31 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw"
        const auto dash = line.find(" - ");
        if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
        std::istringstream fields(line.substr(0, dash));
        std::string id, parent, dev, root, mount_point;
        if (fields >> id >> parent >> dev >> root >> mount_point) return mount_point;
    }
    return "/sys/fs/cgroup";
}

Result<void> load_policy_maps(sensors::Sensors& s, const policy::CompiledPolicy& compiled,
                              const std::string& cgroup2_root) {
    // Atomic for the enforcing kernel: each map gets its new entries first (overwriting),
    // then loses the stale ones, so no rule that both generations share is ever missing.
    // Workload configs are replaced in place; an isolation already in force survives.
    for (std::size_t i = 0; i < compiled.workloads.size(); ++i) {
        const auto id = static_cast<std::uint32_t>(i + 1);
        mw_workload_config config = compiled.workloads[i];
        if (auto current = s.workload(id); current && (current->flags & MW_WL_ISOLATED)) config.flags |= MW_WL_ISOLATED;
        if (auto r = s.set_workload(id, config); !r) return r;
    }
    std::vector<std::pair<mw_path_rule_key, mw_path_rule>> paths;
    for (const auto& e : compiled.path_rules) paths.emplace_back(e.key, e.value);
    if (auto r = s.replace_path_rules(paths); !r) return r;
    std::vector<std::pair<mw_net_rule_key, mw_net_rule>> nets;
    for (const auto& e : compiled.net_rules) nets.emplace_back(e.key, e.value);
    if (auto r = s.replace_net_rules(nets); !r) return r;
    if (auto r = s.replace_listen_rules(compiled.listen_rules); !r) return r;
    std::vector<std::pair<mw_selector_key, std::uint32_t>> prefixes;
    for (const auto& e : compiled.selector_prefixes) prefixes.emplace_back(e.key, e.workload_id);
    if (auto r = s.replace_selector_prefixes(prefixes); !r) return r;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> cgroups;
    for (const auto& e : compiled.selector_cgroups) {
        struct stat st{};
        const std::string dir = cgroup2_root + e.path;
        if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            spdlog::warn("policy: selector cgroup {} does not exist under {} (yet): not pre-selected in the kernel",
                         e.path, cgroup2_root);
            continue;
        }
        // The kernel's cgroup id is the cgroup directory's inode number on cgroup2.
        cgroups.emplace_back(st.st_ino, e.workload_id);
    }
    if (auto r = s.replace_selector_cgroups(cgroups); !r) return r;
    if (auto r = s.replace_model_extensions(policy::model_file_extensions()); !r) return r;
    std::vector<std::pair<std::uint32_t, std::string>> model_dirs;
    for (const auto& e : compiled.model_dirs) {
        // The kernel matches the path it renders from the dentry: symlinks already resolved.
        // A directory that does not exist yet is kept as written.
        std::error_code ec;
        auto real = std::filesystem::canonical(e.dir, ec);
        model_dirs.emplace_back(e.workload_id, ec ? e.dir : real.string());
        if (!ec && real.string() != e.dir) model_dirs.emplace_back(e.workload_id, e.dir);
    }
    if (auto r = s.replace_model_dirs(model_dirs); !r) return r;
    // The whole generation is in: every verdict cached from a half-written one now misses.
    return s.invalidate_open_cache();
}

std::size_t mark_running_workloads(sensors::Sensors& sensors, ProcessTable& table, const policy::PolicySet& policies) {
    std::vector<std::uint32_t> pids;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        pids.push_back(static_cast<std::uint32_t>(std::stoul(name)));
    }
    // Roots first: processes a selector matches by itself.
    std::unordered_map<std::uint32_t, std::uint32_t> workload_of;
    for (auto pid : pids) {
        const Process* p = table.lookup_or_load(pid);
        if (!p) continue;
        const policy::ProcessFacts facts{p->executable, p->args, p->cgroup_path};
        if (auto id = policies.select_id(facts)) workload_of[pid] = id;
    }
    // Then descendants: the nearest selected ancestor decides, as inheritance at fork would have.
    std::array<const Process*, 64> chain{};
    for (auto pid : pids) {
        if (workload_of.count(pid)) continue;
        const Process* p = table.lookup(pid);
        if (!p) continue;
        const std::size_t n = table.ancestors(*p, chain);
        for (std::size_t i = 0; i < n; ++i) {
            if (auto it = workload_of.find(chain[i]->pid); it != workload_of.end()) {
                workload_of[pid] = it->second;
                break;
            }
        }
    }
    std::size_t marked = 0;
    for (const auto& [pid, id] : workload_of) {
        if (auto r = sensors.mark_task(pid, mw_task_state{id, 0}); !r) {
            spdlog::warn("policy: cannot mark running process {}: {}", pid, r.error().message);
            continue;
        }
        ++marked;
    }
    return marked;
}

}  // namespace mw
