// Self-protection set-up: programs on before load, adopted maps emptied after load, the
// agent's threads, files and BPF objects registered after attach.
#include "self_protect.hpp"

#include "common/abi.hpp"  // first: the ABI header with its C-only constructs allowed
#include "mw_bpf.skel.h"
#include "sensors.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

namespace mw::selfprotect {
namespace {

namespace fs = std::filesystem;

Error errno_error(const std::string& what, int err)
{
    if (err < 0) err = -err;
    return make_error(fmt::format("selfprotect: {}: {}", what, std::strerror(err)), err);
}

bool is_self_program(const bpf_program* prog) { return std::string_view(bpf_program__name(prog)).starts_with("self_"); }

bool is_lsm(const bpf_program* prog) { return std::string_view(bpf_program__section_name(prog)).find("lsm/") != std::string_view::npos; }

Result<void> empty_map(bpf_map* map)
{
    const std::size_t key_size = bpf_map__key_size(map);
    std::vector<std::vector<std::byte>> keys;
    std::vector<std::byte> key(key_size), next(key_size);
    const void* prev = nullptr;
    while (bpf_map__get_next_key(map, prev, next.data(), key_size) == 0) {
        keys.push_back(next);
        key = next;
        prev = key.data();
    }
    for (auto& k : keys) {
        int err = bpf_map__delete_elem(map, k.data(), key_size, 0);
        if (err && err != -ENOENT) return errno_error(fmt::format("cannot empty map {}", bpf_map__name(map)), err);
    }
    return {};
}

// The kernel's internal dev_t (MKDEV: major << 20 | minor), which is what i_sb->s_dev holds;
// stat() reports the user-space encoding.
std::uint32_t kernel_dev(dev_t dev) { return (::major(dev) << 20) | ::minor(dev); }

class Registrar {
public:
    explicit Registrar(mw_bpf* skel) : skel_(skel) {}

    Result<void> add(const std::string& raw, std::uint32_t kind, bool subdirs)
    {
        if (raw.empty()) return {};
        std::error_code ec;
        fs::path path = fs::weakly_canonical(fs::absolute(raw, ec), ec);
        if (ec) path = raw;
        struct stat st {};
        const bool exists = ::stat(path.c_str(), &st) == 0;
        const bool dir = exists && S_ISDIR(st.st_mode);
        if (exists) {
            if (auto r = add_inode(st, kind, path); !r) return r;
        } else {
            spdlog::warn("selfprotect: {} does not exist: protected by path only", path.string());
        }
        if (auto r = add_prefix(path.string(), true, kind); !r) return r;
        if (dir) {
            if (auto r = add_prefix(path.string() + "/", false, kind); !r) return r;
            if (subdirs) {
                for (const auto& entry : fs::directory_iterator(path, ec)) {
                    struct stat sub {};
                    if (entry.is_directory(ec) && ::stat(entry.path().c_str(), &sub) == 0)
                        if (auto r = add_inode(sub, kind, entry.path()); !r) return r;
                }
            }
        }
        return {};
    }

    Protection counts;

private:
    Result<void> add_inode(const struct stat& st, std::uint32_t kind, const fs::path& path)
    {
        mw_inode_key key{};
        key.ino = st.st_ino;
        key.dev = kernel_dev(st.st_dev);
        if (int err = bpf_map__update_elem(skel_->maps.protected_inodes, &key, sizeof key, &kind, sizeof kind, BPF_ANY);
            err)
            return errno_error(fmt::format("cannot protect inode of {}", path.string()), err);
        ++counts.inodes;
        return {};
    }

    Result<void> add_prefix(const std::string& path, bool exact, std::uint32_t kind)
    {
        mw_selector_key key{};
        const std::size_t bytes = path.size() + (exact ? 1 : 0);
        if (bytes > MW_LPM_PATH_BYTES) {
            spdlog::warn("selfprotect: {} is longer than {} bytes: protected by inode only", path, MW_LPM_PATH_BYTES - 1);
            return {};
        }
        key.prefixlen = 8 * static_cast<std::uint32_t>(bytes);
        std::memcpy(key.path, path.data(), path.size());
        if (int err = bpf_map__update_elem(skel_->maps.protected_paths, &key, sizeof key, &kind, sizeof kind, BPF_ANY);
            err)
            return errno_error(fmt::format("cannot protect path {}", path), err);
        ++counts.prefixes;
        return {};
    }

    mw_bpf* skel_;
};

}  // namespace

Result<void> configure(sensors::Sensors& sensors, bool lsm)
{
    mw_bpf* skel = sensors.skeleton();
    if (!skel) return make_error("selfprotect: configure() needs an opened skeleton", EINVAL);
    // kill(0, sig) and kill(-pgid, sig) reach every member of the agent's process group.
    skel->rodata->self_agent_pgid = static_cast<std::uint32_t>(::getpgid(0));
    skel->rodata->self_lsm_deny = lsm ? 1 : 0;
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, skel->obj)
    {
        if (!is_self_program(prog)) continue;
        // BPF-LSM is refused under lockdown=integrity and absent without "bpf" in lsm=.
        bpf_program__set_autoload(prog, is_lsm(prog) ? lsm : true);
    }
    return {};
}

Result<void> reset(sensors::Sensors& sensors)
{
    mw_bpf* skel = sensors.skeleton();
    if (!skel) return make_error("selfprotect: reset() needs a loaded skeleton", EINVAL);
    for (auto* map : {skel->maps.protected_inodes, skel->maps.protected_paths, skel->maps.self_bpf_objects,
                      skel->maps.agent_threads})
        if (auto r = empty_map(map); !r) return r;
    return {};
}

Result<Protection> protect(sensors::Sensors& sensors, const ProtectedPaths& paths)
{
    mw_bpf* skel = sensors.skeleton();
    if (!skel) return make_error("selfprotect: protect() needs an attached skeleton", EINVAL);
    Registrar reg(skel);

    // Threads: tkill() and ptrace() name a thread; later threads come from task_newtask.
    std::error_code ec;
    const std::uint32_t one = 1;
    for (const auto& entry : fs::directory_iterator("/proc/self/task", ec)) {
        const std::uint32_t tid = static_cast<std::uint32_t>(std::strtoul(entry.path().filename().c_str(), nullptr, 10));
        if (tid == 0) continue;
        if (int err = bpf_map__update_elem(skel->maps.agent_threads, &tid, sizeof tid, &one, sizeof one, BPF_ANY); err)
            return errno_error(fmt::format("cannot register agent thread {}", tid), err);
        ++reg.counts.threads;
    }
    if (ec) return make_error(fmt::format("selfprotect: cannot list /proc/self/task: {}", ec.message()), ec.value());

    if (auto r = reg.add(paths.binary, MW_PROTECTED_BINARY, false); !r) return r.error();
    for (const auto& c : paths.config)
        if (auto r = reg.add(c, MW_PROTECTED_CONFIG, false); !r) return r.error();
    if (auto r = reg.add(paths.pin_dir, MW_PROTECTED_PIN_DIR, true); !r) return r.error();
    if (auto r = reg.add(paths.spool_dir, MW_PROTECTED_SPOOL, true); !r) return r.error();
    if (auto r = reg.add(paths.audit_log, MW_PROTECTED_AUDIT_LOG, false); !r) return r.error();

    // Own programs, then every link on the host that runs one of them (skeleton links and
    // the cgroup links the sensors made outside the skeleton alike).
    std::set<std::uint32_t> prog_ids;
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, skel->obj)
    {
        const int fd = bpf_program__fd(prog);
        if (fd < 0) continue;
        bpf_prog_info info{};
        __u32 len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) prog_ids.insert(info.id);
    }
    auto add_object = [&](std::uint64_t kind, std::uint32_t id) -> Result<void> {
        const std::uint64_t key = (kind << 32) | id;
        if (int err = bpf_map__update_elem(skel->maps.self_bpf_objects, &key, sizeof key, &one, sizeof one, BPF_ANY); err)
            return errno_error(fmt::format("cannot register bpf object {}", id), err);
        ++reg.counts.bpf_objects;
        return {};
    };
    for (auto id : prog_ids)
        if (auto r = add_object(MW_SELF_BPF_PROG, id); !r) return r.error();
    std::uint32_t link_id = 0;
    while (bpf_link_get_next_id(link_id, &link_id) == 0) {
        const int fd = bpf_link_get_fd_by_id(link_id);
        if (fd < 0) continue;  // gone meanwhile
        bpf_link_info info{};
        __u32 len = sizeof info;
        const bool ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && prog_ids.count(info.prog_id) != 0;
        ::close(fd);
        if (ours)
            if (auto r = add_object(MW_SELF_BPF_LINK, link_id); !r) return r.error();
    }
    return reg.counts;
}

void release(sensors::Sensors& sensors)
{
    if (auto r = reset(sensors); !r) spdlog::warn("{}", r.error().message);
}

}  // namespace mw::selfprotect
