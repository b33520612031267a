// Mounts tracefs and bpffs on demand: minimal hosts and containers often lack them.
#include "kernel_fs.hpp"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>

namespace mw::sensors {

bool is_mounted_as(const std::string& path, long magic)
{
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return false;
    return static_cast<long>(st.f_type) == magic;
}

static Result<void> mount_if_missing(const char* path, const char* fstype, long magic)
{
    if (is_mounted_as(path, magic)) return {};
    ::mkdir(path, 0755);  // usually exists already; mount reports the real problem
    if (::mount(fstype, path, fstype, 0, nullptr) != 0) {
        int err = errno;
        return make_error(fmt::format("sensors: cannot mount {} at {}: {}", fstype, path, std::strerror(err)), err);
    }
    spdlog::info("sensors: mounted {} at {}", fstype, path);
    return {};
}

Result<void> ensure_kernel_fs_mounted()
{
    if (auto r = mount_if_missing("/sys/kernel/tracing", "tracefs", kTracefsMagic); !r) return r;
    if (auto r = mount_if_missing("/sys/fs/bpf", "bpf", kBpffsMagic); !r) return r;
    return {};
}

}  // namespace mw::sensors
