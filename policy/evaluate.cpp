// The evaluator: allow lists and sensitive paths from the model, ids from the catalog.
#include "policy/evaluate.hpp"

#include "policy/compile.hpp"

#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstring>
#include <string>

namespace mw::policy {

namespace {

Verdict finding(const WorkloadPolicy& w, RuleKind kind, Action configured, std::string_view matched = {}) {
    Verdict v;
    v.allowed = false;
    v.rule = &rule_info(kind);
    v.configured = configured;
    v.action = w.mode == Mode::enforce ? configured : Action::alert;
    v.matched = matched;
    return v;
}

// The precompiled set when it was built for this list, else the list itself, glob by glob.
std::size_t first_match(const GlobSet& set, const std::vector<Glob>& globs, std::string_view path) {
    if (set.covers(globs)) return set.first_match(path);
    for (std::size_t i = 0; i < globs.size(); ++i)
        if (globs[i].match(path)) return i;
    return GlobSet::npos;
}

bool any_match(const GlobSet& set, const std::vector<Glob>& globs, std::string_view path) {
    if (set.covers(globs)) return set.any_match(path);
    for (const auto& g : globs)
        if (g.match(path)) return true;
    return false;
}

// The kernel reports what a path resolved to: /proc/self/status arrives as /proc/<pid>/status.
// Allow lists are written with /proc/self/, so the acting process's own pid directory is
// matched as /proc/self/ too.
bool allowed_by(const GlobSet& set, const std::vector<Glob>& globs, std::string_view path, std::uint32_t self_pid) {
    if (any_match(set, globs, path)) return true;
    constexpr std::string_view proc = "/proc/";
    if (self_pid == 0 || !path.starts_with(proc)) return false;
    const std::string_view rest = path.substr(proc.size());
    const auto slash = rest.find('/');
    std::uint32_t pid = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + (slash == std::string_view::npos ? rest.size() : slash), pid);
    if (ec != std::errc() || pid != self_pid || slash == std::string_view::npos || p != rest.data() + slash) return false;
    // Rewritten on the stack: a process reading its own /proc files does it on every start-up.
    constexpr std::string_view self = "/proc/self";
    const std::string_view tail = rest.substr(slash);
    std::array<char, 512> buf;
    if (self.size() + tail.size() <= buf.size()) {
        std::memcpy(buf.data(), self.data(), self.size());
        std::memcpy(buf.data() + self.size(), tail.data(), tail.size());
        return any_match(set, globs, std::string_view(buf.data(), self.size() + tail.size()));
    }
    std::string as_self(self);
    as_self.append(tail);
    return any_match(set, globs, as_self);
}

// "/proc/<pid>/..." or "/proc/self/..." naming the acting process itself.
bool is_own_proc_file(std::string_view path, std::string_view leaf, std::uint32_t self_pid) {
    constexpr std::string_view proc = "/proc/";
    if (!path.starts_with(proc)) return false;
    std::string_view rest = path.substr(proc.size());
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash + 1) != leaf) return false;
    std::string_view who = rest.substr(0, slash);
    if (who == "self" || who == "thread-self") return true;
    std::uint32_t pid = 0;
    auto [p, ec] = std::from_chars(who.data(), who.data() + who.size(), pid);
    return self_pid != 0 && ec == std::errc() && p == who.data() + who.size() && pid == self_pid;
}

// Sensitive check shared by every file operation; nullopt = not sensitive.
std::optional<Verdict> sensitive(const WorkloadPolicy& w, std::string_view path, std::uint32_t self_pid) {
    const std::size_t i = first_match(w.sensitive_set, w.sensitive.paths, path);
    if (i == GlobSet::npos) return std::nullopt;
    // Whether the process's own environ is exempt depends on the path alone, so no later
    // glob can turn it into a finding either.
    bool proc = path.starts_with("/proc/") && (path.ends_with("/mem") || path.ends_with("/environ"));
    if (proc && is_own_proc_file(path, "environ", self_pid)) return std::nullopt;
    return finding(w, proc ? RuleKind::proc_memory_access : RuleKind::sensitive_file_access, w.sensitive.action,
                   w.sensitive.paths[i].pattern());
}

Verdict write_like(const WorkloadPolicy& w, std::string_view path, RuleKind kind) {
    if (auto s = sensitive(w, path, 0)) return *s;
    if (any_match(w.write_set, w.write.allow, path)) return {};
    return finding(w, kind, w.write.action);
}

}  // namespace

void precompile_paths(WorkloadPolicy& w) {
    w.exec_set = GlobSet::build(w.exec.allow);
    w.read_set = GlobSet::build(w.read.allow);
    w.write_set = GlobSet::build(w.write.allow);
    w.sensitive_set = GlobSet::build(w.sensitive.paths);
}

bool is_model_file(std::string_view path) {
    if (!has_model_extension(path)) return false;
    // Python's own path-configuration files (site-packages/*.pth, read by `site` at every
    // interpreter start) share PyTorch's .pth extension: they are not weights.
    const auto slash = path.rfind('/');
    if (slash == std::string_view::npos || slash == 0) return true;
    const auto name = path.substr(slash + 1);
    const auto parent_start = path.rfind('/', slash - 1);
    const auto parent = path.substr(parent_start + 1, slash - parent_start - 1);
    const bool pth = name.size() > 4 && (name.ends_with(".pth") || name.ends_with(".PTH"));
    return !(pth && (parent == "site-packages" || parent == "dist-packages"));
}

bool under_model_dirs(const WorkloadPolicy& w, std::string_view path) {
    for (std::string_view dir : w.models.dirs) {
        while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
        if (dir == "/") return true;
        if (path.starts_with(dir) && (path.size() == dir.size() || path[dir.size()] == '/')) return true;
    }
    return false;
}

Verdict evaluate_exec(const WorkloadPolicy& w, std::string_view path) {
    if (auto s = sensitive(w, path, 0)) return *s;
    if (any_match(w.exec_set, w.exec.allow, path)) return {};
    return finding(w, RuleKind::exec_not_allowed, w.exec.action);
}

Verdict evaluate_open(const WorkloadPolicy& w, std::string_view path, bool write, std::uint32_t self_pid) {
    if (auto s = sensitive(w, path, self_pid)) return *s;
    if (write) {
        if (allowed_by(w.write_set, w.write.allow, path, self_pid)) return {};
        return finding(w, RuleKind::file_write_not_allowed, w.write.action);
    }
    // under_model_dirs first: a prefix compare that settles the common case (a server reading
    // its own models) before the extension check.
    if (!w.models.dirs.empty() && !under_model_dirs(w, path) && is_model_file(path))
        return finding(w, RuleKind::model_outside_dirs, w.read.action);
    if (allowed_by(w.read_set, w.read.allow, path, self_pid)) return {};
    return finding(w, RuleKind::file_read_not_allowed, w.read.action);
}

Verdict evaluate_unlink(const WorkloadPolicy& w, std::string_view path) {
    return write_like(w, path, RuleKind::file_unlink_not_allowed);
}

Verdict evaluate_rename(const WorkloadPolicy& w, std::string_view from, std::string_view to) {
    Verdict v = write_like(w, from, RuleKind::file_write_not_allowed);
    if (!v.allowed) return v;
    return write_like(w, to, RuleKind::file_write_not_allowed);
}

Verdict evaluate_chmod(const WorkloadPolicy& w, std::string_view path) {
    return write_like(w, path, RuleKind::file_chmod_not_allowed);
}

Verdict evaluate_connect(const WorkloadPolicy& w, int family, std::span<const std::uint8_t> addr, std::uint16_t port,
                         Protocol proto) {
    if (family != AF_INET && family != AF_INET6) return {};
    for (const auto& ep : w.egress.allow)
        if (ep.matches(family, addr, port, proto)) return {};
    return finding(w, RuleKind::egress_not_allowed, w.egress.action);
}

Verdict evaluate_listen(const WorkloadPolicy& w, std::uint16_t port) {
    for (auto p : w.listen.allow)
        if (p == port) return {};
    return finding(w, RuleKind::listen_not_allowed, w.listen.action);
}

Verdict evaluate_fileless_exec(const WorkloadPolicy& w) { return finding(w, RuleKind::fileless_exec, w.exec.action); }
Verdict evaluate_memfd_create(const WorkloadPolicy& w) { return finding(w, RuleKind::memfd_create, Action::alert); }
Verdict evaluate_ptrace(const WorkloadPolicy& w) { return finding(w, RuleKind::ptrace, Action::alert); }
Verdict evaluate_process_vm(const WorkloadPolicy& w, bool write) {
    return finding(w, write ? RuleKind::process_vm_write : RuleKind::process_vm_read, Action::alert);
}
Verdict evaluate_privilege_change(const WorkloadPolicy& w) {
    return finding(w, RuleKind::privilege_change, Action::alert);
}
Verdict evaluate_module_load(const WorkloadPolicy& w) { return finding(w, RuleKind::module_load, Action::alert); }
Verdict evaluate_bpf_call(const WorkloadPolicy& w) { return finding(w, RuleKind::bpf_call, Action::alert); }

}  // namespace mw::policy
