// Sensors: the move-only owner of the BPF skeleton (open -> configure -> load ->
// attach) and the typed writers for every policy map the compiled policy feeds.
#pragma once

#include "common/result.hpp"
#include "policy/compile.hpp"

#include <modelwarden/events.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct mw_bpf;
struct bpf_map;
struct bpf_link;

namespace mw::sensors {

struct SensorConfig {
    std::uint32_t agent_tgid = 0;                       // 0 = this process
    std::uint32_t ring_buffer_bytes = 16u * 1024 * 1024;  // power of two, >= page size
    // seccomp: learn each watched workload's syscall set, and report syscalls a filter
    // stopped. Both are off unless asked: raw_tp/sys_enter (and sys_exit for violations)
    // run on every syscall of the host.
    bool learn_syscalls = false;
    bool seccomp_violations = false;
    // Fail-safe: maps pinned under <pin_dir>/maps (adopted by the next agent when they match
    // this build), links under <pin_dir>/links (they keep enforcing if the agent dies).
    // "" = nothing pinned: the programs go with the agent.
    std::string pin_dir;
    // cgroup v2 mount: the network enforcement programs attach at its root ("" = not attached).
    std::string cgroup2_root;
    bool enable_lsm = false;                            // BPF-LSM deny programs (probe first)
    bool open_cache = true;                             // cache allowed-open verdicts of watched tasks
};

// Per-reason drop counts summed over CPUs (index = enum mw_drop_reason).
struct DropCounters {
    std::array<std::uint64_t, MW_DROP_REASON_COUNT> by_reason{};
    std::uint64_t total() const;
};

// Map keys are built where the policy is compiled (policy/compile.hpp): one byte layout.
using policy::make_net_rule_key;
using policy::make_path_rule_key;
using policy::make_selector_key;

class Sensors {
public:
    // Mounts tracefs/bpffs if needed, routes libbpf's log to spdlog, opens the skeleton.
    static Result<Sensors> open();

    Sensors(Sensors&& other) noexcept;
    Sensors& operator=(Sensors&& other) noexcept;
    Sensors(const Sensors&) = delete;
    Sensors& operator=(const Sensors&) = delete;
    ~Sensors();

    Result<void> configure(const SensorConfig& config);  // before load()
    Result<void> load();
    Result<void> attach();

    // ---- scoping ----
    // With learning on, a real workload id here also moves what the process did while
    // MW_WORKLOAD_PENDING (seccomp_pending_syscalls) into that workload's learned set.
    Result<void> mark_task(std::uint32_t tgid, const mw_task_state& state);
    Result<void> unmark_task(std::uint32_t tgid);  // ENOENT is not an error
    Result<mw_task_state> task_state(std::uint32_t tgid) const;  // ENOENT if not watched

    // ---- policy ----
    Result<void> set_workload(std::uint32_t workload_id, const mw_workload_config& config);
    Result<void> add_path_rule(const mw_path_rule_key& key, const mw_path_rule& rule);
    Result<void> clear_path_rules();
    Result<void> add_net_rule(const mw_net_rule_key& key, const mw_net_rule& rule);
    Result<void> clear_net_rules();
    Result<void> add_listen_rule(std::uint32_t workload_id, std::uint16_t port);
    Result<void> clear_listen_rules();
    Result<void> add_selector_prefix(const mw_selector_key& key, std::uint32_t workload_id);
    Result<void> clear_selector_prefixes();
    Result<void> add_selector_cgroup(std::uint64_t cgroup_id, std::uint32_t workload_id);
    Result<void> clear_selector_cgroups();

    Result<DropCounters> read_drop_counters() const;

    // ---- model files and the open-verdict cache ----
    // File-name extensions (lower case, no dot, < MW_MODEL_EXT_MAX bytes) whose opens outside
    // the workload's model dirs are always reported with MW_FLAG_MODEL_FILE.
    Result<void> replace_model_extensions(const std::vector<std::string>& extensions);
    // (workload id, absolute directory): everything below the directory counts as inside.
    Result<void> replace_model_dirs(const std::vector<std::pair<std::uint32_t, std::string>>& dirs);
    // Makes every cached allowed-open verdict miss. Every policy writer here calls it after
    // its write; load_policy_maps calls it once more when the whole generation is in.
    Result<void> invalidate_open_cache();
    // True while the cache is used: attached, with the programs that invalidate it on
    // rename, link and mount changes (see bpf/file.bpf.c).
    bool open_cache_active() const { return open_cache_active_; }
    // Entries in the cache (stale generations included, until the LRU evicts them).
    Result<std::size_t> open_cache_entries() const;

    // ---- enforcement ----
    // Replaces a policy map's contents without a window where a rule is missing: every new
    // entry is written (overwriting), then the keys the new set lacks are deleted.
    Result<void> replace_path_rules(const std::vector<std::pair<mw_path_rule_key, mw_path_rule>>& rules);
    Result<void> replace_net_rules(const std::vector<std::pair<mw_net_rule_key, mw_net_rule>>& rules);
    Result<void> replace_listen_rules(const std::vector<mw_listen_rule_key>& keys);
    Result<void> replace_selector_prefixes(const std::vector<std::pair<mw_selector_key, std::uint32_t>>& entries);
    Result<void> replace_selector_cgroups(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& entries);
    Result<mw_workload_config> workload(std::uint32_t workload_id) const;
    // Fail-open: removes the pins so the programs detach when this agent exits.
    Result<void> unpin();
    // Whether the destructor leaves the pins (fail-closed) or removes them (fail-open, and
    // any start-up failure). A SIGKILLed agent runs no destructor: its pins always stay.
    void set_keep_pins(bool keep) { keep_pins_ = keep; }
    std::size_t adopted_maps() const { return adopted_maps_; }    // pinned maps reused at load
    std::size_t replaced_links() const { return replaced_links_; } // a previous agent's links taken over
    std::size_t cgroup_links() const { return cgroup_links_.size(); }

    // ---- seccomp learning ----
    // The syscalls the workload's tasks entered since load or the last clear (bit n = nr n),
    // including those they made before user space confirmed them. Not const: it first moves
    // pending entries of tgids confirmed meanwhile (a bit set in the race with mark_task).
    Result<mw_syscall_bitmap> read_syscall_bitmap(std::uint32_t workload_id);
    Result<void> clear_syscall_bitmap(std::uint32_t workload_id);
    // Pending (unconfirmed) process entries, for tests and diagnostics.
    Result<std::size_t> pending_syscall_entries() const;
    // Pins seccomp_log_profiles at `path` (replacing a stale pin) so `modelwarden exec` with
    // a log profile can register cgroup id -> allowed syscalls; unpin_seccomp_log_profiles
    // removes it if it is still this agent's.
    Result<void> pin_seccomp_log_profiles(const std::string& path);
    void unpin_seccomp_log_profiles();

    // Programs switched off at load because their hook does not exist here, with why.
    const std::vector<std::string>& disabled_programs() const { return disabled_; }

    // The ring buffer map, for RingBufferReader (valid after load()).
    int events_map_fd() const;
    mw_bpf* skeleton() { return skel_; }

private:
    explicit Sensors(mw_bpf* skel) : skel_(skel) {}
    Result<void> update(bpf_map* map, const void* key, std::size_t key_size, const void* value,
                        std::size_t value_size, const char* what);
    Result<void> clear(bpf_map* map, std::size_t key_size, const char* what);

    template <class K, class V>
    Result<void> replace(bpf_map* map, const std::vector<std::pair<K, V>>& entries, const char* what);
    Result<void> attach_cgroup_programs();
    Result<void> attach_open_cache_hooks();
    Result<void> set_open_cache_slot(std::uint32_t slot, std::uint64_t value);
    Result<void> pin_links();
    void prepare_pins();
    Result<void> adopt_pending_syscalls(std::uint32_t tgid, std::uint32_t workload_id);
    Result<void> sweep_pending_syscalls();

    mw_bpf* skel_ = nullptr;
    bool loaded_ = false;
    std::vector<std::string> disabled_;
    SensorConfig config_;
    std::vector<bpf_link*> cgroup_links_;
    std::size_t adopted_maps_ = 0;
    std::size_t replaced_links_ = 0;
    bool keep_pins_ = false;
    bool open_cache_wanted_ = true;
    bool open_cache_active_ = false;
    // seccomp: bits moved out of seccomp_pending_syscalls, per workload id. Kept here, not
    // OR-ed into seccomp_syscalls, so user space never read-modify-writes a value the
    // kernel sets bits in concurrently.
    std::vector<mw_syscall_bitmap> early_syscalls_;
    std::string log_profiles_pin_;
};

}  // namespace mw::sensors
