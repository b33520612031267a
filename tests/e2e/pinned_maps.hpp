// Reading the agent's pinned BPF maps from an e2e test (needs libbpf: link PkgConfig::LIBBPF).
// What the kernel holds, read directly, so a test can wait on the agent's own decisions.
#pragma once

#include <bpf/bpf.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace mw::test {

// The workload id the kernel holds for pid in pin_dir's watched_tasks map (0 = not watched).
inline std::uint32_t pinned_workload_of(const std::string& pin_dir, pid_t pid) {
    const int fd = bpf_obj_get((pin_dir + "/maps/watched_tasks").c_str());
    if (fd < 0) return 0;
    std::uint32_t key = static_cast<std::uint32_t>(pid);
    std::uint32_t value[2] = {0, 0};
    const int err = bpf_map_lookup_elem(fd, &key, value);
    ::close(fd);
    return err ? 0 : value[0];
}

// The kernel's id of the map pinned at path (0 = no such pin): the same id after a restart
// means the new agent adopted the map instead of creating one.
inline std::uint32_t pinned_map_id(const std::string& path) {
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return 0;
    bpf_map_info info{};
    __u32 len = sizeof info;
    const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
    ::close(fd);
    return err ? 0 : info.id;
}

}  // namespace mw::test
