// Walks the cgroup2 hierarchy to map cgroup ids (directory inodes) to paths.
#include "process/cgroup_paths.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

namespace mw {

CgroupPaths::CgroupPaths(std::string cgroup_root) : root_(std::move(cgroup_root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::uint64_t CgroupPaths::id_of(std::string_view path) const {
    std::string full = root_;
    if (!path.empty() && path != "/") full.append(path);
    struct stat st {};
    if (::stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    return st.st_ino;
}

void CgroupPaths::rescan() {
    namespace fs = std::filesystem;
    ++rescans_;
    scanned_ = true;
    last_scan_ = std::chrono::steady_clock::now();
    paths_.clear();
    if (auto id = id_of("/"); id != 0) paths_.try_emplace(id, 1, '/');  // (1, '/'): dodges a GCC 12 -Wrestrict false positive
    std::error_code ec;
    fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
        spdlog::debug("process: cannot walk cgroup root {}: {}", root_, ec.message());
        return;
    }
    // Cgroups come and go during the walk: every error is skipped, not fatal.
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) { ec.clear(); continue; }
        std::error_code dec;
        if (!it->is_directory(dec) || it->is_symlink(dec)) continue;
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) continue;
        std::string p = it->path().string();
        paths_[st.st_ino] = p.substr(root_.size());
    }
}

std::string_view CgroupPaths::resolve(std::uint64_t cgroup_id) {
    if (cgroup_id == 0) return {};
    if (auto it = paths_.find(cgroup_id); it != paths_.end()) return it->second;
    if (!scanned_ || std::chrono::steady_clock::now() - last_scan_ >= std::chrono::seconds(1)) {
        rescan();
        if (auto it = paths_.find(cgroup_id); it != paths_.end()) return it->second;
    }
    return {};
}

}  // namespace mw
