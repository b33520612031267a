// The skeleton owner: lifecycle steps, libbpf log routing, and the map writers.
#include "sensors.hpp"

#include "kernel_fs.hpp"
#include "mw_bpf.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <vector>

namespace mw::sensors {
namespace {

int libbpf_to_spdlog(enum libbpf_print_level level, const char* format, va_list args)
{
    char line[1024];
    int n = std::vsnprintf(line, sizeof line, format, args);
    std::string_view text(line, n < 0 ? 0 : std::min<std::size_t>(n, sizeof line - 1));
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    // The memlock warning is noise here: BPF memory is memcg-accounted on >= 5.11.
    if (text.find("memlock") != std::string_view::npos) level = LIBBPF_DEBUG;
    switch (level) {
    case LIBBPF_WARN: spdlog::warn("sensors: libbpf: {}", text); break;
    case LIBBPF_INFO: spdlog::debug("sensors: libbpf: {}", text); break;
    default: spdlog::trace("sensors: libbpf: {}", text); break;
    }
    return n;
}

// Slots of open_cache_state (bpf/lib/maps.h: MW_GEN_POLICY, MW_OPEN_CACHE_ON).
constexpr std::uint32_t MW_OPEN_CACHE_POLICY_SLOT = 0;
constexpr std::uint32_t MW_OPEN_CACHE_ON_SLOT = 2;

Error errno_error(const std::string& what, int err)
{
    if (err < 0) err = -err;
    return make_error(fmt::format("sensors: {}: {}", what, std::strerror(err)), err);
}

}  // namespace

std::uint64_t DropCounters::total() const
{
    std::uint64_t sum = 0;
    for (auto v : by_reason) sum += v;
    return sum;
}

Result<Sensors> Sensors::open()
{
    libbpf_set_print(libbpf_to_spdlog);
    if (auto r = ensure_kernel_fs_mounted(); !r) return r.error();
    mw_bpf* skel = mw_bpf__open();
    if (!skel) return errno_error("cannot open the bpf skeleton", errno);
    return Sensors(skel);
}

Sensors::Sensors(Sensors&& other) noexcept
    : skel_(std::exchange(other.skel_, nullptr)), loaded_(other.loaded_), disabled_(std::move(other.disabled_)),
      config_(std::move(other.config_)), cgroup_links_(std::move(other.cgroup_links_)),
      adopted_maps_(other.adopted_maps_), replaced_links_(other.replaced_links_), keep_pins_(other.keep_pins_),
      open_cache_wanted_(other.open_cache_wanted_), open_cache_active_(other.open_cache_active_),
      early_syscalls_(std::move(other.early_syscalls_)), log_profiles_pin_(std::exchange(other.log_profiles_pin_, {}))
{
    other.cgroup_links_.clear();
}

Sensors& Sensors::operator=(Sensors&& other) noexcept
{
    if (this != &other) {
        for (auto* l : cgroup_links_) bpf_link__destroy(l);
        if (skel_) mw_bpf__destroy(skel_);
        skel_ = std::exchange(other.skel_, nullptr);
        loaded_ = other.loaded_;
        disabled_ = std::move(other.disabled_);
        config_ = std::move(other.config_);
        cgroup_links_ = std::move(other.cgroup_links_);
        other.cgroup_links_.clear();
        adopted_maps_ = other.adopted_maps_;
        replaced_links_ = other.replaced_links_;
        keep_pins_ = other.keep_pins_;
        open_cache_wanted_ = other.open_cache_wanted_;
        open_cache_active_ = other.open_cache_active_;
        early_syscalls_ = std::move(other.early_syscalls_);
        log_profiles_pin_ = std::exchange(other.log_profiles_pin_, {});
    }
    return *this;
}

Sensors::~Sensors()
{
    // A pinned link stays attached after its fd closes: that is the fail-safe.
    if (skel_ && !keep_pins_) (void)unpin();
    unpin_seccomp_log_profiles();  // exec's registrations die with the programs that read them
    for (auto* l : cgroup_links_) bpf_link__destroy(l);
    if (skel_) mw_bpf__destroy(skel_);
}

Result<void> Sensors::configure(const SensorConfig& config)
{
    if (!skel_ || loaded_) return make_error("sensors: configure() must come after open() and before load()", EINVAL);
    std::uint32_t bytes = config.ring_buffer_bytes;
    if (bytes < 4096 || (bytes & (bytes - 1)) != 0)
        return make_error(fmt::format("sensors: ring buffer size {} is not a power of two >= 4096", bytes), EINVAL);
    skel_->rodata->agent_tgid = config.agent_tgid ? config.agent_tgid : static_cast<std::uint32_t>(::getpid());
    if (int err = bpf_map__set_max_entries(skel_->maps.events, bytes); err)
        return errno_error("cannot size the events ring buffer", err);
    config_ = config;
    // BPF-LSM is refused under lockdown=integrity and absent without "bpf" in lsm=: the
    // deny programs load only where the probe loaded one.
    bpf_program__set_autoload(skel_->progs.enforce_bprm_check, config.enable_lsm);
    bpf_program__set_autoload(skel_->progs.enforce_file_open, config.enable_lsm);
    // The cgroup programs need a cgroup v2 hierarchy to attach to.
    for (auto* prog : {skel_->progs.enforce_connect4, skel_->progs.enforce_connect6, skel_->progs.enforce_sendmsg4,
                       skel_->progs.enforce_sendmsg6, skel_->progs.enforce_bind4, skel_->progs.enforce_bind6})
        bpf_program__set_autoload(prog, !config.cgroup2_root.empty());
    if (!config.pin_dir.empty()) prepare_pins();
    skel_->rodata->seccomp_learn = config.learn_syscalls ? 1 : 0;
    skel_->rodata->seccomp_violations = config.seccomp_violations ? 1 : 0;
    bpf_program__set_autoload(skel_->progs.handle_seccomp_enter, config.learn_syscalls || config.seccomp_violations);
    bpf_program__set_autoload(skel_->progs.handle_seccomp_exit, config.seccomp_violations);
    open_cache_wanted_ = config.open_cache;
    return {};
}

Result<void> Sensors::load()
{
    if (!skel_ || loaded_) return make_error("sensors: load() needs an opened, unloaded skeleton", EINVAL);
    // A syscall the kernel does not have (init_module without CONFIG_MODULES, open on
    // arm64) has no tracepoint: that program is switched off, the rest still loads.
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, skel_->obj)
    {
        std::string_view sec = bpf_program__section_name(prog);
        constexpr std::string_view kTp = "tracepoint/";
        if (sec.substr(0, kTp.size()) != kTp) continue;
        std::string events = "/sys/kernel/tracing/events/" + std::string(sec.substr(kTp.size()));
        if (::access(events.c_str(), F_OK) == 0) continue;
        int err = errno;
        bpf_program__set_autoload(prog, false);
        std::string why = fmt::format("{}: {} ({})", bpf_program__name(prog), std::strerror(err), events);
        spdlog::info("sensors: program off, tracepoint missing: {}", why);
        disabled_.push_back(std::move(why));
    }
    if (int err = mw_bpf__load(skel_); err) return errno_error("cannot load the bpf programs", err);
    loaded_ = true;
    // An adopted cache holds a predecessor's verdicts: off until our hooks are attached,
    // and everything it holds made stale.
    if (auto r = set_open_cache_slot(MW_OPEN_CACHE_ON_SLOT, 0); !r) return r;
    return invalidate_open_cache();
}

Result<void> Sensors::attach()
{
    if (!loaded_) return make_error("sensors: attach() before load()", EINVAL);
    if (int err = mw_bpf__attach(skel_); err) return errno_error("cannot attach the bpf programs", err);
    if (auto r = attach_cgroup_programs(); !r) return r;
    if (auto r = attach_open_cache_hooks(); !r) return r;
    if (auto r = pin_links(); !r) return r;
    spdlog::info("sensors: attached (syscall tracepoints + tp_btf sched hooks)");
    return {};
}

Result<void> Sensors::update(bpf_map* map, const void* key, std::size_t key_size, const void* value,
                             std::size_t value_size, const char* what)
{
    if (!loaded_) return make_error(fmt::format("sensors: {} before load()", what), EINVAL);
    if (int err = bpf_map__update_elem(map, key, key_size, value, value_size, BPF_ANY); err)
        return errno_error(fmt::format("cannot update {} ({})", bpf_map__name(map), what), err);
    return {};
}

Result<void> Sensors::clear(bpf_map* map, std::size_t key_size, const char* what)
{
    if (!loaded_) return make_error(fmt::format("sensors: {} before load()", what), EINVAL);
    // Collect first: deleting while iterating restarts the walk on hash maps.
    std::vector<std::byte> key(key_size), next(key_size);
    std::vector<std::vector<std::byte>> keys;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(map, prev, next.data(), key_size) == 0) {
        keys.push_back(next);
        key = next;
        prev = key.data();
    }
    for (auto& k : keys) {
        int err = bpf_map__delete_elem(map, k.data(), key_size, 0);
        if (err && err != -ENOENT) return errno_error(fmt::format("cannot clear {} ({})", bpf_map__name(map), what), err);
    }
    return {};
}

Result<void> Sensors::mark_task(std::uint32_t tgid, const mw_task_state& state)
{
    if (auto r = update(skel_->maps.watched_tasks, &tgid, sizeof tgid, &state, sizeof state, "mark task"); !r)
        return r;
    // State first, then the pending entry: from here on the kernel learns into the workload,
    // and a bit it still adds to a recreated pending entry is picked up by the sweep.
    if (config_.learn_syscalls && state.workload_id < MW_MAX_WORKLOADS)
        return adopt_pending_syscalls(tgid, state.workload_id);
    return {};
}

Result<void> Sensors::unmark_task(std::uint32_t tgid)
{
    if (!loaded_) return make_error("sensors: unmark task before load()", EINVAL);
    int err = bpf_map__delete_elem(skel_->maps.watched_tasks, &tgid, sizeof tgid, 0);
    if (err && err != -ENOENT) return errno_error(fmt::format("cannot unmark task {}", tgid), err);
    if (config_.learn_syscalls) {
        // Not a workload after all: what it did while pending belongs to nobody.
        err = bpf_map__delete_elem(skel_->maps.seccomp_pending_syscalls, &tgid, sizeof tgid, 0);
        if (err && err != -ENOENT) return errno_error(fmt::format("cannot drop pending syscalls of {}", tgid), err);
    }
    return {};
}

Result<mw_task_state> Sensors::task_state(std::uint32_t tgid) const
{
    mw_task_state state{};
    if (!loaded_) return make_error("sensors: task_state before load()", EINVAL);
    if (int err = bpf_map__lookup_elem(skel_->maps.watched_tasks, &tgid, sizeof tgid, &state, sizeof state, 0); err)
        return errno_error(fmt::format("task {} not watched", tgid), err);
    return state;
}

Result<void> Sensors::set_workload(std::uint32_t workload_id, const mw_workload_config& config)
{
    if (workload_id >= MW_MAX_WORKLOADS)
        return make_error(fmt::format("sensors: workload id {} >= {}", workload_id, MW_MAX_WORKLOADS), EINVAL);
    if (auto r = update(skel_->maps.workloads, &workload_id, sizeof workload_id, &config, sizeof config, "set workload"); !r)
        return r;
    return invalidate_open_cache();
}

Result<void> Sensors::add_path_rule(const mw_path_rule_key& key, const mw_path_rule& rule)
{
    if (auto r = update(skel_->maps.path_rules, &key, sizeof key, &rule, sizeof rule, "add path rule"); !r) return r;
    return invalidate_open_cache();
}

Result<void> Sensors::clear_path_rules()
{
    if (auto r = clear(skel_->maps.path_rules, sizeof(mw_path_rule_key), "path rules"); !r) return r;
    return invalidate_open_cache();
}

Result<void> Sensors::add_net_rule(const mw_net_rule_key& key, const mw_net_rule& rule)
{
    return update(skel_->maps.net_rules, &key, sizeof key, &rule, sizeof rule, "add net rule");
}

Result<void> Sensors::clear_net_rules() { return clear(skel_->maps.net_rules, sizeof(mw_net_rule_key), "net rules"); }

Result<void> Sensors::add_listen_rule(std::uint32_t workload_id, std::uint16_t port)
{
    mw_listen_rule_key key{};
    key.workload_id = workload_id;
    key.port = port;
    std::uint32_t allowed = 1;
    return update(skel_->maps.listen_rules, &key, sizeof key, &allowed, sizeof allowed, "add listen rule");
}

Result<void> Sensors::clear_listen_rules()
{
    return clear(skel_->maps.listen_rules, sizeof(mw_listen_rule_key), "listen rules");
}

Result<void> Sensors::add_selector_prefix(const mw_selector_key& key, std::uint32_t workload_id)
{
    return update(skel_->maps.selector_exe_prefixes, &key, sizeof key, &workload_id, sizeof workload_id,
                  "add selector prefix");
}

Result<void> Sensors::clear_selector_prefixes()
{
    return clear(skel_->maps.selector_exe_prefixes, sizeof(mw_selector_key), "selector prefixes");
}

Result<void> Sensors::add_selector_cgroup(std::uint64_t cgroup_id, std::uint32_t workload_id)
{
    return update(skel_->maps.selector_cgroups, &cgroup_id, sizeof cgroup_id, &workload_id, sizeof workload_id,
                  "add selector cgroup");
}

Result<void> Sensors::clear_selector_cgroups()
{
    return clear(skel_->maps.selector_cgroups, sizeof(std::uint64_t), "selector cgroups");
}

Result<DropCounters> Sensors::read_drop_counters() const
{
    if (!loaded_) return make_error("sensors: read_drop_counters before load()", EINVAL);
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return errno_error("cannot count possible cpus", ncpu);
    DropCounters out;
    std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpu));
    for (std::uint32_t reason = 0; reason < MW_DROP_REASON_COUNT; ++reason) {
        if (int err = bpf_map__lookup_elem(skel_->maps.drop_counters, &reason, sizeof reason, per_cpu.data(),
                                           per_cpu.size() * sizeof(std::uint64_t), 0);
            err)
            return errno_error("cannot read drop_counters", err);
        for (auto v : per_cpu) out.by_reason[reason] += v;
    }
    return out;
}

Result<void> Sensors::adopt_pending_syscalls(std::uint32_t tgid, std::uint32_t workload_id)
{
    mw_syscall_bitmap pending{};
    int err = bpf_map__lookup_and_delete_elem(skel_->maps.seccomp_pending_syscalls, &tgid, sizeof tgid, &pending,
                                              sizeof pending, 0);
    if (err == -ENOENT) return {};
    if (err) return errno_error(fmt::format("cannot move pending syscalls of {}", tgid), err);
    if (early_syscalls_.empty()) early_syscalls_.resize(MW_MAX_WORKLOADS);
    for (int w = 0; w < MW_SYSCALL_BITMAP_WORDS; ++w) early_syscalls_[workload_id].words[w] |= pending.words[w];
    return {};
}

Result<void> Sensors::sweep_pending_syscalls()
{
    // Collect first: deleting while iterating restarts the walk on hash maps.
    std::vector<std::uint32_t> tgids;
    std::uint32_t key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.seccomp_pending_syscalls, prev, &next, sizeof next) == 0) {
        tgids.push_back(next);
        key = next;
        prev = &key;
    }
    for (auto tgid : tgids) {
        mw_task_state state{};
        // Unwatched: a pending process that exited or was dropped; the LRU ages it out.
        if (bpf_map__lookup_elem(skel_->maps.watched_tasks, &tgid, sizeof tgid, &state, sizeof state, 0) != 0) continue;
        if (state.workload_id >= MW_MAX_WORKLOADS) continue;  // still pending
        if (auto r = adopt_pending_syscalls(tgid, state.workload_id); !r) return r;
    }
    return {};
}

Result<mw_syscall_bitmap> Sensors::read_syscall_bitmap(std::uint32_t workload_id)
{
    mw_syscall_bitmap bitmap{};
    if (!loaded_) return make_error("sensors: read_syscall_bitmap before load()", EINVAL);
    if (workload_id >= MW_MAX_WORKLOADS)
        return make_error(fmt::format("sensors: workload id {} >= {}", workload_id, MW_MAX_WORKLOADS), EINVAL);
    if (config_.learn_syscalls) {
        if (auto r = sweep_pending_syscalls(); !r) return r.error();
    }
    if (int err = bpf_map__lookup_elem(skel_->maps.seccomp_syscalls, &workload_id, sizeof workload_id, &bitmap,
                                       sizeof bitmap, 0);
        err)
        return errno_error(fmt::format("cannot read seccomp_syscalls for workload {}", workload_id), err);
    if (!early_syscalls_.empty())
        for (int w = 0; w < MW_SYSCALL_BITMAP_WORDS; ++w) bitmap.words[w] |= early_syscalls_[workload_id].words[w];
    return bitmap;
}

Result<void> Sensors::clear_syscall_bitmap(std::uint32_t workload_id)
{
    if (workload_id >= MW_MAX_WORKLOADS)
        return make_error(fmt::format("sensors: workload id {} >= {}", workload_id, MW_MAX_WORKLOADS), EINVAL);
    if (!early_syscalls_.empty()) early_syscalls_[workload_id] = mw_syscall_bitmap{};
    mw_syscall_bitmap empty{};
    return update(skel_->maps.seccomp_syscalls, &workload_id, sizeof workload_id, &empty, sizeof empty,
                  "clear syscall bitmap");
}

Result<std::size_t> Sensors::pending_syscall_entries() const
{
    if (!loaded_) return make_error("sensors: pending_syscall_entries before load()", EINVAL);
    std::size_t n = 0;
    std::uint32_t key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.seccomp_pending_syscalls, prev, &next, sizeof next) == 0) {
        ++n;
        key = next;
        prev = &key;
    }
    return n;
}

Result<void> Sensors::pin_seccomp_log_profiles(const std::string& path)
{
    if (!loaded_) return make_error("sensors: pin_seccomp_log_profiles before load()", EINVAL);
    // A pin left by an agent that was killed names a map no program reads any more.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return errno_error(fmt::format("cannot remove the stale pin {}", path), -errno);
    if (int err = bpf_obj_pin(bpf_map__fd(skel_->maps.seccomp_log_profiles), path.c_str()); err)
        return errno_error(fmt::format("cannot pin seccomp_log_profiles at {}", path), -errno);
    log_profiles_pin_ = path;
    return {};
}

void Sensors::unpin_seccomp_log_profiles()
{
    if (log_profiles_pin_.empty() || !skel_) return;
    // Only our own map: a newer agent may have replaced the pin meanwhile.
    int fd = bpf_obj_get(log_profiles_pin_.c_str());
    if (fd >= 0) {
        bpf_map_info pinned{}, ours{};
        __u32 len = sizeof pinned;
        bool same = bpf_obj_get_info_by_fd(fd, &pinned, &len) == 0;
        len = sizeof ours;
        same = same && bpf_obj_get_info_by_fd(bpf_map__fd(skel_->maps.seccomp_log_profiles), &ours, &len) == 0 &&
               pinned.id == ours.id;
        ::close(fd);
        if (same && ::unlink(log_profiles_pin_.c_str()) != 0)
            spdlog::warn("sensors: cannot unpin {}: {}", log_profiles_pin_, std::strerror(errno));
    }
    log_profiles_pin_.clear();
}

// ---- enforcement: pins, cgroup attachment, atomic policy replacement -----------------

namespace {

bool is_pinnable(const bpf_map* map)
{
    // .rodata/.bss carry this agent's own load-time values (its tgid): never shared.
    return !bpf_map__is_internal(map);
}

std::string pin_path(const std::string& dir, const char* kind, const char* name)
{
    return fmt::format("{}/{}/{}", dir, kind, name);
}

}  // namespace

// Reuses a pinned map only when it has exactly this build's shape; a stale pin (older
// layout, other ring-buffer size) is removed so this agent creates and pins a fresh one.
void Sensors::prepare_pins()
{
    std::error_code ec;
    std::filesystem::create_directories(config_.pin_dir + "/maps", ec);
    std::filesystem::create_directories(config_.pin_dir + "/links", ec);
    if (ec) {
        spdlog::warn("sensors: cannot create pin dir {}: {}: not pinning", config_.pin_dir, ec.message());
        config_.pin_dir.clear();
        return;
    }
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, skel_->obj)
    {
        if (!is_pinnable(map)) continue;
        const std::string path = pin_path(config_.pin_dir, "maps", bpf_map__name(map));
        int fd = bpf_obj_get(path.c_str());
        if (fd >= 0) {
            bpf_map_info info{};
            __u32 len = sizeof info;
            const bool same = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == bpf_map__type(map) &&
                              info.key_size == bpf_map__key_size(map) &&
                              info.value_size == bpf_map__value_size(map) &&
                              info.max_entries == bpf_map__max_entries(map) &&
                              info.map_flags == bpf_map__map_flags(map);
            ::close(fd);
            if (same) {
                ++adopted_maps_;
            } else {
                spdlog::warn("sensors: pinned map {} does not match this build: replacing it", path);
                ::unlink(path.c_str());
            }
        }
        if (int err = bpf_map__set_pin_path(map, path.c_str()); err)
            spdlog::warn("sensors: cannot set pin path {}: {}", path, std::strerror(-err));
    }
}

Result<void> Sensors::attach_cgroup_programs()
{
    if (config_.cgroup2_root.empty()) return {};
    int cg = ::open(config_.cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) return errno_error(fmt::format("cannot open cgroup2 root {}", config_.cgroup2_root), errno);
    // bpf_link (multi) at the root: every process on the host passes these programs, next
    // to whatever else is attached there; nothing is moved between cgroups.
    for (auto* prog : {skel_->progs.enforce_connect4, skel_->progs.enforce_connect6, skel_->progs.enforce_sendmsg4,
                       skel_->progs.enforce_sendmsg6, skel_->progs.enforce_bind4, skel_->progs.enforce_bind6}) {
        bpf_link* link = bpf_program__attach_cgroup(prog, cg);
        if (!link) {
            int err = errno;
            ::close(cg);
            return errno_error(fmt::format("cannot attach {} at cgroup {}", bpf_program__name(prog), config_.cgroup2_root),
                               err);
        }
        cgroup_links_.push_back(link);
    }
    ::close(cg);
    spdlog::info("sensors: network enforcement attached at cgroup root {}", config_.cgroup2_root);
    return {};
}

// Pins every link under <pin_dir>/links/<program>. A previous agent's pin there is
// replaced only after this agent's link is attached, so both enforce for a moment and
// there is never a moment with neither.
Result<void> Sensors::pin_links()
{
    if (config_.pin_dir.empty()) return {};
    auto pin_one = [&](bpf_link* link, const char* name) -> Result<void> {
        const std::string path = pin_path(config_.pin_dir, "links", name);
        if (::unlink(path.c_str()) == 0) ++replaced_links_;
        if (int err = bpf_link__pin(link, path.c_str()); err)
            return errno_error(fmt::format("cannot pin link {}", path), err);
        return {};
    };
    const bpf_object_skeleton* sk = skel_->skeleton;
    for (int i = 0; i < sk->prog_cnt; ++i) {
        bpf_link* link = *sk->progs[i].link;
        if (!link) continue;
        if (auto r = pin_one(link, sk->progs[i].name); !r) return r;
    }
    for (auto* link : cgroup_links_) {
        const bpf_program* prog = nullptr;
        // cgroup links are created outside the skeleton: name them by their program
        for (auto* p : {skel_->progs.enforce_connect4, skel_->progs.enforce_connect6, skel_->progs.enforce_sendmsg4,
                        skel_->progs.enforce_sendmsg6, skel_->progs.enforce_bind4, skel_->progs.enforce_bind6}) {
            bpf_link_info info{};
            __u32 len = sizeof info;
            if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) == 0 && info.prog_id != 0) {
                bpf_prog_info pinfo{};
                __u32 plen = sizeof pinfo;
                if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &pinfo, &plen) == 0 && pinfo.id == info.prog_id) prog = p;
            }
        }
        if (!prog) continue;
        if (auto r = pin_one(link, bpf_program__name(prog)); !r) return r;
    }
    spdlog::info("sensors: pinned under {} (adopted {} map(s), took over {} link(s))", config_.pin_dir, adopted_maps_,
                 replaced_links_);
    return {};
}

Result<void> Sensors::unpin()
{
    if (config_.pin_dir.empty()) return {};
    std::error_code ec;
    std::filesystem::remove_all(config_.pin_dir, ec);
    if (ec) return make_error(fmt::format("sensors: cannot remove pins under {}: {}", config_.pin_dir, ec.message()), ec.value());
    spdlog::info("sensors: fail-open: pins under {} removed, programs detach with this agent", config_.pin_dir);
    return {};
}

template <class K, class V>
Result<void> Sensors::replace(bpf_map* map, const std::vector<std::pair<K, V>>& entries, const char* what)
{
    if (!loaded_) return make_error(fmt::format("sensors: replace {} before load()", what), EINVAL);
    std::vector<K> stale;
    K key{}, next{};
    const void* prev = nullptr;
    while (bpf_map__get_next_key(map, prev, &next, sizeof next) == 0) {
        stale.push_back(next);
        key = next;
        prev = &key;
    }
    for (const auto& [k, v] : entries)
        if (auto r = update(map, &k, sizeof k, &v, sizeof v, what); !r) return r;
    for (const auto& k : stale) {
        bool kept = false;
        for (const auto& e : entries)
            if (std::memcmp(&e.first, &k, sizeof k) == 0) {
                kept = true;
                break;
            }
        if (kept) continue;
        int err = bpf_map__delete_elem(map, &k, sizeof k, 0);
        if (err && err != -ENOENT) return errno_error(fmt::format("cannot delete stale {} entry", what), err);
    }
    return invalidate_open_cache();
}

Result<void> Sensors::replace_path_rules(const std::vector<std::pair<mw_path_rule_key, mw_path_rule>>& rules)
{
    return replace(skel_->maps.path_rules, rules, "path rules");
}

Result<void> Sensors::replace_net_rules(const std::vector<std::pair<mw_net_rule_key, mw_net_rule>>& rules)
{
    return replace(skel_->maps.net_rules, rules, "net rules");
}

Result<void> Sensors::replace_listen_rules(const std::vector<mw_listen_rule_key>& keys)
{
    std::vector<std::pair<mw_listen_rule_key, std::uint32_t>> entries;
    for (const auto& k : keys) entries.emplace_back(k, 1u);
    return replace(skel_->maps.listen_rules, entries, "listen rules");
}

Result<void> Sensors::replace_selector_prefixes(const std::vector<std::pair<mw_selector_key, std::uint32_t>>& entries)
{
    return replace(skel_->maps.selector_exe_prefixes, entries, "selector prefixes");
}

Result<void> Sensors::replace_selector_cgroups(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& entries)
{
    return replace(skel_->maps.selector_cgroups, entries, "selector cgroups");
}

Result<mw_workload_config> Sensors::workload(std::uint32_t workload_id) const
{
    mw_workload_config config{};
    if (!loaded_) return make_error("sensors: workload() before load()", EINVAL);
    if (int err = bpf_map__lookup_elem(skel_->maps.workloads, &workload_id, sizeof workload_id, &config, sizeof config, 0);
        err)
        return errno_error(fmt::format("cannot read workload {}", workload_id), err);
    return config;
}

// ---- model files and the open-verdict cache ------------------------------------------------

Result<void> Sensors::replace_model_extensions(const std::vector<std::string>& extensions)
{
    std::vector<std::pair<mw_model_ext_key, std::uint32_t>> entries;
    for (const auto& e : extensions) {
        mw_model_ext_key key{};
        if (e.empty() || e.size() >= MW_MODEL_EXT_MAX || e.find_first_of("./") != std::string::npos)
            return make_error(fmt::format("sensors: model extension '{}' must be 1..{} bytes without '.' or '/'", e,
                                          MW_MODEL_EXT_MAX - 1),
                              EINVAL);
        for (std::size_t i = 0; i < e.size(); ++i)
            key.ext[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(e[i])));
        entries.emplace_back(key, 1u);
    }
    return replace(skel_->maps.model_extensions, entries, "model extensions");
}

Result<void> Sensors::replace_model_dirs(const std::vector<std::pair<std::uint32_t, std::string>>& dirs)
{
    std::vector<std::pair<mw_path_rule_key, std::uint32_t>> entries;
    for (const auto& [workload_id, dir] : dirs) {
        std::string prefix = dir;
        while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
        if (prefix != "/") prefix.push_back('/');
        auto key = make_path_rule_key(workload_id, prefix, false);
        if (!key) return key.error();
        entries.emplace_back(*key, 1u);
    }
    return replace(skel_->maps.model_dirs, entries, "model dirs");
}

Result<void> Sensors::set_open_cache_slot(std::uint32_t slot, std::uint64_t value)
{
    return update(skel_->maps.open_cache_state, &slot, sizeof slot, &value, sizeof value, "open cache state");
}

Result<void> Sensors::invalidate_open_cache()
{
    if (!loaded_) return make_error("sensors: invalidate_open_cache before load()", EINVAL);
    std::uint32_t slot = MW_OPEN_CACHE_POLICY_SLOT;
    std::uint64_t gen = 0;
    // One writer (this agent), so read-increment-write is enough; the kernel only reads it.
    if (int err = bpf_map__lookup_elem(skel_->maps.open_cache_state, &slot, sizeof slot, &gen, sizeof gen, 0); err)
        return errno_error("cannot read open_cache_state", err);
    return set_open_cache_slot(slot, gen + 1);
}

Result<std::size_t> Sensors::open_cache_entries() const
{
    if (!loaded_) return make_error("sensors: open_cache_entries before load()", EINVAL);
    const std::size_t key_size = bpf_map__key_size(skel_->maps.open_verdicts);
    std::vector<std::byte> key(key_size), next(key_size);
    std::size_t n = 0;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.open_verdicts, prev, next.data(), key_size) == 0) {
        ++n;
        key = next;
        prev = key.data();
    }
    return n;
}

// The cache is only correct while the programs that invalidate it on rename, link and mount
// changes run: they are attached with the rest (mw_bpf__attach is all or nothing), so this
// runs after that succeeded.
Result<void> Sensors::attach_open_cache_hooks()
{
    open_cache_active_ = false;
    if (!open_cache_wanted_) return set_open_cache_slot(MW_OPEN_CACHE_ON_SLOT, 0);
    // Renames and mounts while detached were not counted: nothing cached before counts.
    if (auto r = invalidate_open_cache(); !r) return r;
    if (auto r = set_open_cache_slot(MW_OPEN_CACHE_ON_SLOT, 1); !r) return r;
    open_cache_active_ = true;
    return {};
}

int Sensors::events_map_fd() const { return skel_ && loaded_ ? bpf_map__fd(skel_->maps.events) : -1; }

}  // namespace mw::sensors
