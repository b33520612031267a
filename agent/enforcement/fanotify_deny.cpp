// fanotify deny fallback (see fanotify_deny.hpp): plans marks from the policy, answers every
// permission event exactly once from a reader thread, ALLOW on any error or at stop.
#include "enforcement/fanotify_deny.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mw::enforcement {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kPermMask = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;

bool is_wildcard(char c) { return c == '*' || c == '?' || c == '['; }

// Splits a raw glob pattern at the last '/' before its first unescaped wildcard.
// Returns {directory (unescaped, with trailing '/'), rest (raw)}; no wildcard -> rest empty.
std::pair<std::string, std::string> split_pattern(const std::string& pattern) {
    std::size_t first = std::string::npos;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '\\') {
            ++i;
            continue;
        }
        if (is_wildcard(pattern[i])) {
            first = i;
            break;
        }
    }
    const std::string literal_part = first == std::string::npos ? pattern : pattern.substr(0, first);
    const auto slash = literal_part.rfind('/');
    const std::string raw_dir = slash == std::string::npos ? std::string("/") : literal_part.substr(0, slash + 1);
    std::string dir;
    for (std::size_t i = 0; i < raw_dir.size(); ++i) {
        if (raw_dir[i] == '\\' && i + 1 < raw_dir.size()) ++i;
        dir += raw_dir[i];
    }
    std::string rest = first == std::string::npos ? std::string() : pattern.substr(raw_dir.size());
    return {dir, rest};
}

std::vector<std::string> split_components(const std::string& rest) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : rest) {
        if (c == '/') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

// procfs and its kin refuse permission marks (FS_DISALLOW_NOTIFY_PERM) or make no sense.
std::optional<std::string> pseudo_fs(const std::string& path) {
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return std::nullopt;
    switch (static_cast<unsigned long>(st.f_type)) {
    case PROC_SUPER_MAGIC: return "procfs refuses fanotify permission events";
    case SYSFS_MAGIC: return "sysfs: no permission events";
    case CGROUP2_SUPER_MAGIC:
    case CGROUP_SUPER_MAGIC: return "cgroupfs: no permission events";
    case TRACEFS_MAGIC:
    case DEBUGFS_MAGIC: return "tracefs/debugfs: no permission events";
    default: return std::nullopt;
    }
}

bool pseudo_fstype(std::string_view t) {
    static constexpr std::array<std::string_view, 20> kPseudo = {
        "proc",   "sysfs",      "cgroup", "cgroup2", "bpf",    "tracefs", "debugfs",     "securityfs", "pstore",
        "configfs", "fusectl", "mqueue", "devpts",  "autofs", "binfmt_misc", "efivarfs", "nsfs", "hugetlbfs",
        "rpc_pipefs", "selinuxfs"};
    return std::find(kPseudo.begin(), kPseudo.end(), t) != kPseudo.end();
}

// "\040" in mountinfo is a space.
std::string unescape_mountinfo(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 4 <= s.size()) {
            int v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 4, v, 8);
            if (ec == std::errc() && p == s.data() + i + 4) {
                out += static_cast<char>(v);
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

std::vector<std::string> real_mounts(const std::string& mountinfo) {
    std::vector<std::string> out;
    std::ifstream in(mountinfo);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string id, parent, devno, root, point, tok;
        if (!(ls >> id >> parent >> devno >> root >> point)) continue;
        while (ls >> tok && tok != "-") {}
        std::string fstype;
        if (!(ls >> fstype) || pseudo_fstype(fstype)) continue;
        out.push_back(unescape_mountinfo(point));
    }
    return out;
}

struct Planner {
    const PlanOptions& opts;
    std::map<std::pair<std::string, MarkKind>, std::uint64_t> marks;

    void add(const std::string& path, MarkKind kind, std::uint64_t mask) { marks[{path, kind}] |= mask; }

    // The directories under `dir` whose direct entries can match comps[depth..] (component
    // globs): only those need a mark. false when more than `budget` would be needed.
    bool walk(const fs::path& dir, const std::vector<std::string>& comps, std::size_t depth,
              std::vector<std::string>& out, std::size_t budget) {
        const bool globstar = depth < comps.size() && comps[depth].find("**") != std::string::npos;
        if (globstar || depth + 1 >= comps.size()) {
            out.push_back(dir.string());
            if (out.size() > budget) return false;
        }
        if (!globstar && depth + 1 >= comps.size()) return true;  // the last component names entries of dir
        std::error_code ec;
        for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
             it.increment(ec)) {
            std::error_code sec;
            if (it->is_symlink(sec) || !it->is_directory(sec)) continue;  // a symlink resolves to another path
            if (globstar) {
                if (!walk(it->path(), comps, depth, out, budget)) return false;
            } else if (::fnmatch(comps[depth].c_str(), it->path().filename().c_str(), 0) == 0) {
                if (!walk(it->path(), comps, depth + 1, out, budget)) return false;
            }
        }
        return true;
    }

    CoverageEntry sensitive(const std::string& workload, const policy::Glob& glob, std::uint64_t mask) {
        CoverageEntry e{workload, "sensitive " + glob.pattern(), false, {}, {}};
        if (glob.is_literal()) {
            const std::string path = glob.literal_prefix();
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0) {
                e.detail = "not present at policy load: nothing to mark (planned again at each policy change)";
                return e;
            }
            if (auto why = pseudo_fs(path)) {
                e.detail = *why;
                return e;
            }
            if (S_ISDIR(st.st_mode)) {
                add(path, MarkKind::directory, mask | FAN_EVENT_ON_CHILD);
                e.mark_paths = {path};
                e.detail = fmt::format("directory {} marked", path);
            } else {
                // The inode mark follows hard links; the directory mark sees a replacement
                // (rename over the file) and a re-creation.
                const std::string parent = fs::path(path).parent_path().string();
                add(path, MarkKind::file, mask);
                add(parent, MarkKind::directory, mask | FAN_EVENT_ON_CHILD);
                e.mark_paths = {path, parent};
                e.detail = fmt::format("file and its directory {}/ marked", parent == "/" ? "" : parent);
            }
            e.denied = true;
            return e;
        }
        auto [dir, rest] = split_pattern(glob.pattern());
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            e.detail = fmt::format("{} not present at policy load: nothing to mark", dir);
            return e;
        }
        if (auto why = pseudo_fs(dir)) {
            e.detail = *why;
            return e;
        }
        const auto comps = split_components(rest);
        std::vector<std::string> dirs;
        if (!walk(fs::path(dir.size() > 1 ? dir.substr(0, dir.size() - 1) : dir), comps, 0, dirs, opts.max_marks)) {
            e.detail = fmt::format("more than {} directories under {} would need marks: not marked", opts.max_marks, dir);
            return e;
        }
        for (const auto& d : dirs) add(d, MarkKind::directory, mask | FAN_EVENT_ON_CHILD);
        e.mark_paths = dirs;
        if (dirs.empty()) {
            e.detail = fmt::format("no directory under {} can hold a match at policy load: nothing to mark", dir);
            return e;
        }
        e.denied = true;
        e.detail = dirs.size() == 1 ? fmt::format("directory {} marked", dir)
                                    : fmt::format("{} directories under {} marked", dirs.size(), dir);
        return e;
    }
};

std::string path_of_fd(int fd) {
    std::array<char, 4096> buf{};
    const auto link = fmt::format("/proc/self/fd/{}", fd);
    const auto n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string();
}

// Tgid of a thread id, from /proc/<tid>/status; 0 when the thread is gone.
std::uint32_t tgid_of(std::uint32_t tid) {
    std::ifstream in(fmt::format("/proc/{}/status", tid));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Tgid:", 0) != 0) continue;
        std::uint32_t v = 0;
        std::size_t i = 5;
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::from_chars(line.data() + i, line.data() + line.size(), v);
        return v;
    }
    return 0;
}

std::string_view intent_name(OpenIntent i) {
    switch (i) {
    case OpenIntent::read: return "read";
    case OpenIntent::write: return "write";
    case OpenIntent::exec: return "exec";
    }
    return "?";
}

}  // namespace

std::string literal_directory(const policy::Glob& glob) { return split_pattern(glob.pattern()).first; }

std::vector<std::string> DenyPlan::status_lines() const {
    std::vector<std::string> out;
    if (coverage.empty()) {
        out.push_back("file deny: no enforce-mode rule asks for deny: nothing marked");
        return out;
    }
    for (const auto& c : coverage)
        out.push_back(fmt::format("file deny: {}: workload {}: {}: {}", c.denied ? "fanotify" : "alert-only", c.workload,
                                  c.rule, c.detail));
    return out;
}

DenyPlan plan_file_deny(const policy::PolicySet& policies, const PlanOptions& options) {
    DenyPlan plan;
    Planner p{options, {}};
    std::vector<std::string> mounts;
    bool mounts_read = false;
    auto mount_list = [&]() -> const std::vector<std::string>& {
        if (!mounts_read) mounts = real_mounts(options.mountinfo), mounts_read = true;
        return mounts;
    };
    for (const auto& w : policies.workloads) {
        if (w.mode != policy::Mode::enforce) continue;
        if (w.sensitive.action == policy::Action::deny)
            for (const auto& g : w.sensitive.paths) plan.coverage.push_back(p.sensitive(w.name, g, FAN_OPEN_PERM));
        for (auto [rules, name] : {std::pair{&w.read, "read allow list"}, std::pair{&w.write, "write allow list"}}) {
            if (rules->action != policy::Action::deny) continue;
            CoverageEntry e{w.name, name, false, {}, {}};
            if (options.mark_mounts) {
                for (const auto& m : mount_list()) p.add(m, MarkKind::mount, FAN_OPEN_PERM);
                e.mark_paths = mount_list();
                e.denied = true;
                e.detail = fmt::format("{} mount(s) marked (mount marks on): every open is judged", mount_list().size());
            } else {
                e.detail = "judged only inside the marked paths of the sensitive rules; elsewhere alert-only "
                           "(no BPF-LSM, mount marks off)";
            }
            plan.coverage.push_back(std::move(e));
        }
        if (w.exec.action == policy::Action::deny) {
            CoverageEntry e{w.name, "exec allow list", false, {}, {}};
            if (options.mark_mounts) {
                for (const auto& m : mount_list()) p.add(m, MarkKind::mount, FAN_OPEN_EXEC_PERM);
                e.mark_paths = mount_list();
                e.denied = true;
                e.detail = fmt::format("{} mount(s) marked (mount marks on): every exec is judged", mount_list().size());
            } else {
                std::vector<std::string> marked;
                std::set<std::string> seen;
                for (const auto& d : options.exec_dirs) {
                    std::error_code ec;
                    const auto real = fs::canonical(d, ec);  // /bin is /usr/bin on merged-/usr hosts
                    if (ec || !fs::is_directory(real, ec) || !seen.insert(real.string()).second) continue;
                    p.add(real.string(), MarkKind::directory, FAN_OPEN_EXEC_PERM | FAN_EVENT_ON_CHILD);
                    marked.push_back(real.string());
                }
                e.mark_paths = marked;
                e.denied = !marked.empty();
                e.detail = marked.empty() ? "no exec directory present: alert-only"
                                          : fmt::format("denied for programs directly in {}; elsewhere alert-only "
                                                        "(no BPF-LSM, mount marks off)",
                                                        fmt::join(marked, ", "));
            }
            plan.coverage.push_back(std::move(e));
        }
    }
    for (const auto& [key, mask] : p.marks) {
        plan.marks.push_back(MarkTarget{key.first, key.second, mask});
        if (mask & FAN_OPEN_EXEC_PERM) plan.wants_exec = true;
    }
    return plan;
}

bool opens_for_write(std::uint32_t flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

std::optional<std::uint32_t> blocked_open_flags(pid_t tid) {
    std::ifstream in(fmt::format("/proc/{}/syscall", tid));
    std::string nr_text;
    if (!(in >> nr_text)) return std::nullopt;
    long nr = 0;
    if (auto [p, ec] = std::from_chars(nr_text.data(), nr_text.data() + nr_text.size(), nr); ec != std::errc())
        return std::nullopt;  // "running"
    std::array<std::uint64_t, 6> args{};
    for (auto& a : args) {
        std::string t;
        if (!(in >> t) || t.rfind("0x", 0) != 0) return std::nullopt;
        std::from_chars(t.data() + 2, t.data() + t.size(), a, 16);
    }
    switch (nr) {
#ifdef SYS_open
    case SYS_open: return static_cast<std::uint32_t>(args[1]);
#endif
#ifdef SYS_creat
    case SYS_creat: return static_cast<std::uint32_t>(O_CREAT | O_WRONLY | O_TRUNC);
#endif
    case SYS_openat: return static_cast<std::uint32_t>(args[2]);
#ifdef SYS_openat2
    case SYS_openat2: {
        // struct open_how starts with the u64 flags, in the opener's memory.
        const int mem = ::open(fmt::format("/proc/{}/mem", tid).c_str(), O_RDONLY | O_CLOEXEC);
        if (mem < 0) return std::nullopt;
        std::uint64_t flags = 0;
        const auto n = ::pread(mem, &flags, sizeof flags, static_cast<off_t>(args[2]));
        ::close(mem);
        if (n != static_cast<ssize_t>(sizeof flags)) return std::nullopt;
        return static_cast<std::uint32_t>(flags);
    }
#endif
    default: return std::nullopt;
    }
}

DenyDecision decide_open(const policy::WorkloadPolicy& workload, const std::string& path, OpenIntent intent,
                         std::uint32_t tgid) {
    DenyDecision d;
    if (workload.mode != policy::Mode::enforce) return d;
    d.verdict = intent == OpenIntent::exec ? policy::evaluate_exec(workload, path)
                                           : policy::evaluate_open(workload, path, intent == OpenIntent::write, tgid);
    d.deny = !d.verdict.allowed && d.verdict.action == policy::Action::deny;
    return d;
}

Result<std::unique_ptr<FanotifyDeny>> FanotifyDeny::create(FanotifyDenyConfig config) {
    if (!config.workload_of) return make_error("file deny: workload_of callback is required");
    // FAN_REPORT_TID: the opener's thread, for /proc/<tid>/syscall (its open flags).
    auto fan = modelgate::FanotifyFd::create(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_TID,
                                             O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (!fan) return make_error(fmt::format("file deny: {}", fan.error().message), fan.error().code);
    std::set<std::string> failed;
    for (const auto& m : config.plan.marks) {
        unsigned flags = FAN_MARK_ADD;
        if (m.kind == MarkKind::mount) flags |= FAN_MARK_MOUNT;
        if (m.kind == MarkKind::directory) flags |= FAN_MARK_ONLYDIR;
        if (::fanotify_mark(fan->get(), flags, m.mask, AT_FDCWD, m.path.c_str()) != 0) {
            const int err = errno;
            spdlog::warn("file deny: fanotify_mark {}: {}", m.path, std::strerror(err));
            failed.insert(m.path);
        }
    }
    // A rule is only as covered as its marks: a failed mark turns its line alert-only.
    for (auto& c : config.plan.coverage) {
        for (const auto& m : c.mark_paths) {
            if (!failed.count(m)) continue;
            c.denied = false;
            c.detail += fmt::format("; mark of {} failed", m);
        }
    }
    const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0) return make_error(fmt::format("file deny: eventfd: {}", std::strerror(errno)), errno);
    return std::unique_ptr<FanotifyDeny>(new FanotifyDeny(std::move(config), std::move(fan.value()), stop_fd));
}

FanotifyDeny::FanotifyDeny(FanotifyDenyConfig config, modelgate::FanotifyFd fan, int stop_fd)
    : config_(std::move(config)), fan_(std::move(fan)), stop_fd_(stop_fd) {}

FanotifyDeny::~FanotifyDeny() {
    stop();
    if (stop_fd_ >= 0) ::close(stop_fd_);
}

Result<void> FanotifyDeny::start() {
    if (thread_.joinable()) return {};
    try {
        thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
        return make_error(fmt::format("file deny: reader thread: {}", e.what()), e.code().value());
    }
    return {};
}

void FanotifyDeny::stop() {
    if (thread_.joinable()) {
        const std::uint64_t one = 1;
        if (::write(stop_fd_, &one, sizeof one) != sizeof one)
            spdlog::warn("file deny: waking the reader: {}", std::strerror(errno));
        thread_.join();
    }
    if (fan_.get() < 0) return;
    // No new events once the marks are gone; then answer what is still queued, so no opener
    // is left to the implicit answer of close().
    (void)::fanotify_mark(fan_.get(), FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr);
    (void)::fanotify_mark(fan_.get(), FAN_MARK_FLUSH | FAN_MARK_MOUNT, 0, AT_FDCWD, nullptr);
    (void)drain(true);
    fan_ = modelgate::FanotifyFd();
}

void FanotifyDeny::run() {
    std::array<pollfd, 2> fds{{{fan_.get(), POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
    while (true) {
        const int n = ::poll(fds.data(), fds.size(), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            spdlog::error("file deny: poll: {}; pending opens are allowed at stop", std::strerror(errno));
            return;
        }
        if (fds[1].revents) return;  // stop(): it answers what is left
        if (fds[0].revents & POLLIN) {
            if (!drain(false)) return;
        } else if (fds[0].revents) {
            spdlog::error("file deny: fanotify fd poll error {:#x}", fds[0].revents);
            return;
        }
    }
}

bool FanotifyDeny::drain(bool stopping) {
    alignas(struct fanotify_event_metadata) std::array<char, 8192> buf;
    std::size_t unjudged = 0;
    while (true) {
        const auto n = ::read(fan_.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            spdlog::error("file deny: read fanotify events: {}", std::strerror(errno));
            return false;
        }
        if (n == 0) break;
        auto* md = reinterpret_cast<struct fanotify_event_metadata*>(buf.data());
        auto len = static_cast<std::size_t>(n);
        for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
            if (md->fd < 0) continue;  // overflow notice: permission events are never in it
            if (md->mask & kPermMask) {
                ++stats_.events;
                bool allow = true;
                if (stopping || md->vers != FANOTIFY_METADATA_VERSION) {
                    ++unjudged;
                } else {
                    try {
                        allow = judge(static_cast<std::uint32_t>(md->pid), md->fd, md->mask);
                    } catch (const std::exception& e) {
                        ++stats_.allowed_on_error;
                        spdlog::error("file deny: judging an open by tid {}: {}: allowed", md->pid, e.what());
                    }
                }
                if (auto r = fan_.respond(md->fd, allow); !r) spdlog::error("file deny: {}", r.error().message);
            }
            ::close(md->fd);
        }
    }
    if (unjudged)
        spdlog::warn("file deny: {} queued open(s) allowed unjudged: {}", unjudged,
                     stopping ? "the group is stopping (agent stop or policy change)" : "unknown fanotify metadata version");
    return true;
}

bool FanotifyDeny::judge(std::uint32_t tid, int fd, std::uint64_t mask) {
    const auto self = static_cast<std::uint32_t>(::getpid());
    if (tid == self) return true;
    std::uint32_t tgid = tid;
    auto workload_id = config_.workload_of(tid);  // a hit: tid is a watched tgid
    if (!workload_id) {
        tgid = tgid_of(tid);
        if (tgid == 0 || tgid == tid || tgid == self) return true;  // gone, unwatched, or this agent
        workload_id = config_.workload_of(tgid);
        if (!workload_id) return true;
    }
    // Provisional (selector prefix) tasks are not enforced on until user space confirmed them.
    if (*workload_id == 0 || *workload_id > config_.policies.workloads.size()) return true;
    const auto& workload = config_.policies.workloads[*workload_id - 1];
    if (workload.mode != policy::Mode::enforce) return true;
    const std::string path = path_of_fd(fd);
    if (path.empty()) {
        ++stats_.allowed_on_error;
        spdlog::warn("file deny: no path for an open by pid {} (fd {}): allowed", tgid, fd);
        return true;
    }
    OpenIntent intent = OpenIntent::read;
    if (mask & FAN_OPEN_EXEC_PERM) {
        intent = OpenIntent::exec;
    } else if (auto flags = blocked_open_flags(static_cast<pid_t>(tid))) {
        intent = opens_for_write(*flags) ? OpenIntent::write : OpenIntent::read;
    } else {
        spdlog::debug("file deny: open flags of tid {} unknown (not in open/openat/openat2): judged as read", tid);
    }
    const auto d = decide_open(workload, path, intent, tgid);
    if (!d.deny) return true;
    ++stats_.denied;
    spdlog::warn("file deny: denied {} of {} by pid {} (workload {}, {})", intent_name(intent), path, tgid,
                 workload.name, d.verdict.rule_id());
    if (config_.on_deny) {
        DeniedOpen o;
        o.tgid = tgid;
        o.tid = tid;
        o.workload_id = *workload_id;
        o.path = path;
        o.intent = intent;
        o.rule = d.verdict.rule ? d.verdict.rule->kind : policy::RuleKind::sensitive_file_access;
        o.matched = std::string(d.verdict.matched);
        config_.on_deny(o);
    }
    return false;
}

}  // namespace mw::enforcement
