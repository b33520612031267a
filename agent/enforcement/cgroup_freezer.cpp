// cgroup v2 freezer: plain file writes under the cgroup directory.
#include "cgroup_freezer.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace mw::enforcement {

Result<std::string> cgroup_dir_of(pid_t pid, const std::string& cgroup2_root)
{
    std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
    if (!in) return make_error(fmt::format("enforcement: cannot read /proc/{}/cgroup: {}", pid, std::strerror(errno)), errno);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) != 0) continue;
        return cgroup2_root + (line.size() > 3 && line.substr(3) != "/" ? line.substr(3) : "");
    }
    return make_error(fmt::format("enforcement: pid {} has no cgroup v2 entry", pid), ENOENT);
}

Result<void> set_frozen(const std::string& cgroup_dir, bool frozen)
{
    const std::string path = cgroup_dir + "/cgroup.freeze";
    std::ofstream out(path);
    if (!out) return make_error(fmt::format("enforcement: cannot open {}: {}", path, std::strerror(errno)), errno);
    out << (frozen ? "1" : "0");
    out.flush();
    if (!out) return make_error(fmt::format("enforcement: cannot write {}: {}", path, std::strerror(errno)), errno);
    return {};
}

Result<bool> is_frozen(const std::string& cgroup_dir)
{
    const std::string path = cgroup_dir + "/cgroup.events";
    std::ifstream in(path);
    if (!in) return make_error(fmt::format("enforcement: cannot read {}: {}", path, std::strerror(errno)), errno);
    std::string key, value;
    while (in >> key >> value)
        if (key == "frozen") return value == "1";
    return make_error(fmt::format("enforcement: {} has no `frozen` line", path), EINVAL);
}

}  // namespace mw::enforcement
