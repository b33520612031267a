// /proc parsing for ProcessTable::lookup_or_load and scan_proc.
#include "process/proc_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>
// The ABI header has C flexible array members; only its limits are needed here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <modelwarden/events.h>
#pragma GCC diagnostic pop

namespace mw {
namespace {

// Reads a whole (small) /proc file; /proc files report size 0, so read until EOF.
Result<std::string> read_file(const std::string& path, std::size_t limit = 1 << 20) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(fmt::format("{}: {}", path, std::strerror(errno)), errno);
    std::string out;
    std::array<char, 4096> buf{};
    while (out.size() < limit) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return make_error(fmt::format("{}: {}", path, std::strerror(e)), e);
        }
        if (n == 0) break;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

Result<std::string> read_link(const std::string& path) {
    std::array<char, 8192> buf{};
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) return make_error(fmt::format("{}: {}", path, std::strerror(errno)), errno);
    return std::string(buf.data(), static_cast<std::size_t>(n));
}

template <class T>
bool parse_num(std::string_view s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// First numeric column after "Key:" in /proc/<pid>/status.
bool status_field(std::string_view status, std::string_view key, std::uint32_t& out) {
    std::size_t pos = 0;
    while (pos < status.size()) {
        std::size_t eol = status.find('\n', pos);
        if (eol == std::string_view::npos) eol = status.size();
        std::string_view line = status.substr(pos, eol - pos);
        if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
            std::string_view rest = line.substr(key.size() + 1);
            std::size_t b = rest.find_first_not_of(" \t");
            if (b == std::string_view::npos) return false;
            rest = rest.substr(b);
            std::size_t e = rest.find_first_of(" \t");
            return parse_num(rest.substr(0, e == std::string_view::npos ? rest.size() : e), out);
        }
        pos = eol + 1;
    }
    return false;
}

std::string base(std::string_view proc_root, std::uint32_t pid) {
    return fmt::format("{}/{}/", proc_root, pid);
}

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
    ProcStat st;
    std::size_t open = text.find('(');
    std::size_t close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return make_error("malformed stat: no (comm)", EINVAL);
    if (!parse_num(text.substr(0, open > 0 ? open - 1 : 0), st.pid))
        return make_error("malformed stat: pid", EINVAL);
    st.comm = std::string(text.substr(open + 1, close - open - 1));
    // Fields after ")" start at field 3 (state).
    std::string_view rest = text.substr(close + 1);
    int field = 2;
    std::size_t pos = 0;
    while (pos < rest.size()) {
        while (pos < rest.size() && rest[pos] == ' ') ++pos;
        std::size_t end = rest.find_first_of(" \n", pos);
        if (end == std::string_view::npos) end = rest.size();
        if (end == pos) break;
        ++field;
        std::string_view tok = rest.substr(pos, end - pos);
        if (field == 3) st.state = tok[0];
        else if (field == 4 && !parse_num(tok, st.ppid)) return make_error("malformed stat: ppid", EINVAL);
        else if (field == 22) {
            if (!parse_num(tok, st.start_ticks)) return make_error("malformed stat: starttime", EINVAL);
            return st;
        }
        pos = end;
    }
    return make_error("malformed stat: too few fields", EINVAL);
}

std::uint32_t read_proc_tgid(std::string_view proc_root, std::uint32_t tid) {
    auto status = read_file(base(proc_root, tid) + "status");
    std::uint32_t tgid = 0;
    if (!status || !status_field(*status, "Tgid", tgid)) return 0;
    return tgid;
}

Result<Process> read_proc_process(std::string_view proc_root, std::uint32_t pid, std::uint64_t tick_ns) {
    const std::string dir = base(proc_root, pid);
    auto stat_text = read_file(dir + "stat");
    if (!stat_text) return stat_text.error();
    auto st = parse_proc_stat(*stat_text);
    if (!st) return make_error(fmt::format("{}stat: {}", dir, st.error().message), EINVAL);

    auto status = read_file(dir + "status");
    if (!status) return status.error();
    std::uint32_t tgid = 0;
    if (status_field(*status, "Tgid", tgid) && tgid != pid)
        return make_error(fmt::format("{} is a thread of {}", pid, tgid), ESRCH);

    Process p;
    p.pid = pid;
    p.ppid = st->ppid;
    p.name = st->comm;
    p.start_time_ns = st->start_ticks * tick_ns;
    status_field(*status, "Uid", p.uid);
    status_field(*status, "Gid", p.gid);

    // Kernel threads and zombies have no exe/cwd: empty, not an error.
    if (auto exe = read_link(dir + "exe")) p.executable = std::move(*exe);
    if (auto cwd = read_link(dir + "cwd")) p.cwd = std::move(*cwd);

    if (auto cmd = read_file(dir + "cmdline", MW_ARGS_MAX_BYTES + 1)) {
        std::string_view c = *cmd;
        if (c.size() > MW_ARGS_MAX_BYTES) {
            c = c.substr(0, MW_ARGS_MAX_BYTES);
            p.args_truncated = true;
        }
        std::size_t pos = 0;
        while (pos < c.size()) {
            std::size_t nul = c.find('\0', pos);
            if (nul == std::string_view::npos) nul = c.size();
            if (p.args.size() == MW_ARGS_MAX_COUNT) { p.args_truncated = true; break; }
            p.args.emplace_back(c.substr(pos, nul - pos));
            pos = nul + 1;
        }
    }

    if (auto cg = read_file(dir + "cgroup")) {
        std::string_view c = *cg;
        std::size_t pos = 0;
        while (pos < c.size()) {
            std::size_t eol = c.find('\n', pos);
            if (eol == std::string_view::npos) eol = c.size();
            std::string_view line = c.substr(pos, eol - pos);
            if (line.substr(0, 3) == "0::") { p.cgroup_path = std::string(line.substr(3)); break; }
            pos = eol + 1;
        }
    }

    if (p.ppid != 0) {
        if (auto pst = read_file(base(proc_root, p.ppid) + "stat")) {
            if (auto ps = parse_proc_stat(*pst)) p.parent_start_time_ns = ps->start_ticks * tick_ns;
        }
    }

    // The pid may have been reused while we read: the start time pins the identity.
    auto again = read_file(dir + "stat");
    if (!again) return again.error();
    auto st2 = parse_proc_stat(*again);
    if (!st2 || st2->start_ticks != st->start_ticks)
        return make_error(fmt::format("{} was replaced while reading /proc", pid), ESRCH);
    return p;
}

}  // namespace mw
