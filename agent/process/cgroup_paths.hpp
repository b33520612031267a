// cgroup v2 id -> path: the id in kernel records is the inode of the cgroup's directory
// under the cgroup2 mount, so a walk of that tree resolves it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mw {

class CgroupPaths {
public:
    explicit CgroupPaths(std::string cgroup_root = "/sys/fs/cgroup");

    // The path relative to the cgroup root ("/system.slice/x.service", "/" for the root),
    // or empty when unknown. A miss rescans the tree, at most once per second, so a burst of
    // records from an unknown cgroup costs one walk.
    std::string_view resolve(std::uint64_t cgroup_id);
    // The id (directory inode) for a path relative to the root, 0 when it does not exist.
    std::uint64_t id_of(std::string_view path) const;

    void rescan();
    std::size_t size() const { return paths_.size(); }
    std::uint64_t rescans() const { return rescans_; }

private:
    std::string root_;
    std::unordered_map<std::uint64_t, std::string> paths_;
    std::chrono::steady_clock::time_point last_scan_{};
    bool scanned_ = false;
    std::uint64_t rescans_ = 0;
};

}  // namespace mw
