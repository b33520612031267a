// cgroup v2 freezer: plain file writes under the cgroup directory, plus the moves that give a
// workload a cgroup of its own when it runs in one it shares.
#include "cgroup_freezer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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

namespace {

// One write(2) of `text`: cgroup files report the kernel's refusal as the write's errno,
// which an ofstream would hide until (or past) its flush.
Result<void> write_control(const std::string& path, std::string_view text)
{
    FILE* f = std::fopen(path.c_str(), "we");
    if (!f) return make_error(fmt::format("enforcement: cannot open {}: {}", path, std::strerror(errno)), errno);
    const int fd = fileno(f);
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int err = errno;
    std::fclose(f);
    if (n != static_cast<ssize_t>(text.size()))
        return make_error(fmt::format("enforcement: cannot write {} to {}: {}", text, path, std::strerror(n < 0 ? err : EIO)),
                          n < 0 ? err : EIO);
    return {};
}

}  // namespace

Result<void> set_frozen(const std::string& cgroup_dir, bool frozen)
{
    return write_control(cgroup_dir + "/cgroup.freeze", frozen ? "1" : "0");
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

Result<std::vector<pid_t>> cgroup_pids(const std::string& cgroup_dir)
{
    const std::string path = cgroup_dir + "/cgroup.procs";
    std::ifstream in(path);
    if (!in) return make_error(fmt::format("enforcement: cannot read {}: {}", path, std::strerror(errno)), errno);
    std::vector<pid_t> out;
    pid_t p = 0;
    while (in >> p) out.push_back(p);
    return out;
}

std::vector<pid_t> process_tree(pid_t pid)
{
    std::multimap<pid_t, pid_t> children;  // ppid -> pid
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        pid_t p = 0;
        auto [ptr, perr] = std::from_chars(name.data(), name.data() + name.size(), p);
        if (perr != std::errc() || ptr != name.data() + name.size()) continue;
        std::ifstream st(fmt::format("/proc/{}/stat", p));
        std::string stat;
        if (!std::getline(st, stat)) continue;  // exited meanwhile
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'
        const auto close = stat.rfind(')');
        if (close == std::string::npos || close + 4 >= stat.size()) continue;
        const char* s = stat.c_str() + close + 4;  // past ") X "
        pid_t ppid = 0;
        (void)std::from_chars(s, stat.c_str() + stat.size(), ppid);
        children.emplace(ppid, p);
    }
    std::vector<pid_t> out{pid};
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto [b, e] = children.equal_range(out[i]);
        for (auto it = b; it != e; ++it) out.push_back(it->second);
    }
    return out;
}

Result<std::string> make_frozen_cgroup(const std::string& cgroup2_root, const std::string& name)
{
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        return make_error(fmt::format("enforcement: '{}' is not a cgroup name", name), EINVAL);
    const std::string slice = cgroup2_root + "/modelwarden.slice";
    if (::mkdir(slice.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error(fmt::format("enforcement: cannot create cgroup {}: {}", slice, std::strerror(errno)), errno);
    const std::string dir = slice + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error(fmt::format("enforcement: cannot create cgroup {}: {}", dir, std::strerror(errno)), errno);
    if (auto r = set_frozen(dir, true); !r) return r.error();
    return dir;
}

Result<void> move_to_cgroup(pid_t pid, const std::string& cgroup_dir)
{
    return write_control(cgroup_dir + "/cgroup.procs", std::to_string(pid));
}

void remove_if_empty(const std::string& cgroup_dir)
{
    (void)::rmdir(cgroup_dir.c_str());
}

}  // namespace mw::enforcement
