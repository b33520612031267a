// OCI seccomp profiles: strict parsing, generation from learned sets, systemd drop-ins, diffs.
#include "seccomp/profile.hpp"

#include "syscalls/syscall_table.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mw::seccomp {
namespace {

constexpr std::array<std::string_view, 44> kDangerous = {
    // Debugging and memory of other processes: the classic injection path.
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
    // Kernel code and kernel state.
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module", "bpf",
    "perf_event_open", "iopl", "ioperm", "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "lookup_dcookie", "uselib",
    // Filesystem namespace and escapes: container breakouts start here.
    "mount", "umount2", "pivot_root", "fsopen", "fsmount", "move_mount", "open_tree", "fspick",
    "mount_setattr", "open_by_handle_at", "unshare", "setns",
    // Kernel keyring and userfaultfd (a staple of kernel exploits).
    "keyctl", "add_key", "request_key", "userfaultfd"};

constexpr std::array<std::string_view, 4> kBaseline = {"exit", "exit_group", "rt_sigreturn", "restart_syscall"};

constexpr std::uint64_t kCloneNewUser = 0x10000000;  // CLONE_NEWUSER (uapi sched.h)
constexpr unsigned kCloneFlagsArg = 0;               // clone's flags: arg 0 on x86_64 and aarch64

constexpr std::array<std::uint32_t, 4> kSocketFamilies = {1 /* AF_UNIX */, 2 /* AF_INET */, 10 /* AF_INET6 */,
                                                          16 /* AF_NETLINK */};

constexpr std::array<std::string_view, 17> kArchitectures = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",    "SCMP_ARCH_X32",     "SCMP_ARCH_ARM",     "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",    "SCMP_ARCH_MIPS64",    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",   "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",   "SCMP_ARCH_RISCV64"};

struct OpName {
    CompareOp op;
    std::string_view name;
};
constexpr std::array<OpName, 7> kOps = {{{CompareOp::NotEqual, "SCMP_CMP_NE"},
                                         {CompareOp::Less, "SCMP_CMP_LT"},
                                         {CompareOp::LessOrEqual, "SCMP_CMP_LE"},
                                         {CompareOp::Equal, "SCMP_CMP_EQ"},
                                         {CompareOp::GreaterOrEqual, "SCMP_CMP_GE"},
                                         {CompareOp::Greater, "SCMP_CMP_GT"},
                                         {CompareOp::MaskedEqual, "SCMP_CMP_MASKED_EQ"}}};

using Json = nlohmann::json;

Error bad(std::string_view source, const std::string& where, const std::string& why)
{
    return make_error(fmt::format("seccomp: {}: {}: {}", source, where, why), EINVAL);
}

Result<std::uint32_t> read_errno(const Json& j, std::string_view source, const std::string& where)
{
    if (!j.is_number_unsigned() || j.get<std::uint64_t>() > 4095)
        return bad(source, where, "must be an errno number 0..4095");
    return static_cast<std::uint32_t>(j.get<std::uint64_t>());
}

Result<SyscallRule> parse_rule(const Json& j, std::string_view source, const std::string& where)
{
    if (!j.is_object()) return bad(source, where, "must be an object");
    SyscallRule rule;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto& k = it.key();
        if (k == "comment") continue;  // Docker's annotation, no effect
        if (k == "includes" || k == "excludes")
            return bad(source, where + "." + k, "Docker's capability/arch conditions are not supported: expand them");
        if (k != "names" && k != "action" && k != "errnoRet" && k != "args")
            return bad(source, where, fmt::format("unknown key '{}'", k));
    }
    if (!j.contains("names") || !j["names"].is_array() || j["names"].empty())
        return bad(source, where + ".names", "must be a non-empty array of syscall names");
    for (std::size_t i = 0; i < j["names"].size(); ++i) {
        const auto& n = j["names"][i];
        auto at = fmt::format("{}.names[{}]", where, i);
        if (!n.is_string()) return bad(source, at, "must be a string");
        auto name = n.get<std::string>();
        if (!syscall_number(name)) return bad(source, at, fmt::format("unknown syscall '{}' on {}", name, syscall_arch_name()));
        rule.names.push_back(std::move(name));
    }
    if (!j.contains("action") || !j["action"].is_string()) return bad(source, where + ".action", "must be a string");
    auto action = action_from_oci(j["action"].get<std::string>());
    if (!action)
        return bad(source, where + ".action",
                   fmt::format("unsupported action '{}'", j["action"].get<std::string>()));
    rule.action = *action;
    if (j.contains("errnoRet")) {
        if (rule.action != Action::Errno) return bad(source, where + ".errnoRet", "only SCMP_ACT_ERRNO takes an errno");
        auto e = read_errno(j["errnoRet"], source, where + ".errnoRet");
        if (!e) return e.error();
        rule.errno_ret = *e;
    }
    if (j.contains("args")) {
        if (!j["args"].is_array()) return bad(source, where + ".args", "must be an array");
        if (j["args"].size() > 6) return bad(source, where + ".args", "at most 6 conditions");
        for (std::size_t i = 0; i < j["args"].size(); ++i) {
            const auto& a = j["args"][i];
            auto at = fmt::format("{}.args[{}]", where, i);
            if (!a.is_object()) return bad(source, at, "must be an object");
            for (auto it = a.begin(); it != a.end(); ++it)
                if (it.key() != "index" && it.key() != "value" && it.key() != "valueTwo" && it.key() != "op")
                    return bad(source, at, fmt::format("unknown key '{}'", it.key()));
            ArgCondition c;
            if (!a.contains("index") || !a["index"].is_number_unsigned() || a["index"].get<std::uint64_t>() > 5)
                return bad(source, at + ".index", "must be an argument index 0..5");
            c.index = static_cast<unsigned>(a["index"].get<std::uint64_t>());
            if (!a.contains("value") || !a["value"].is_number_unsigned())
                return bad(source, at + ".value", "must be an unsigned integer");
            c.value = a["value"].get<std::uint64_t>();
            if (a.contains("valueTwo")) {
                if (!a["valueTwo"].is_number_unsigned()) return bad(source, at + ".valueTwo", "must be an unsigned integer");
                c.value_two = a["valueTwo"].get<std::uint64_t>();
            }
            if (!a.contains("op") || !a["op"].is_string()) return bad(source, at + ".op", "must be a string");
            auto op = a["op"].get<std::string>();
            auto found = std::find_if(kOps.begin(), kOps.end(), [&](const OpName& o) { return o.name == op; });
            if (found == kOps.end()) return bad(source, at + ".op", fmt::format("unknown operator '{}'", op));
            c.op = found->op;
            rule.args.push_back(c);
        }
    }
    return rule;
}

nlohmann::ordered_json rule_to_json(const SyscallRule& rule)
{
    nlohmann::ordered_json j;
    j["names"] = rule.names;
    j["action"] = to_oci(rule.action);
    if (rule.errno_ret) j["errnoRet"] = *rule.errno_ret;
    if (!rule.args.empty()) {
        auto args = nlohmann::ordered_json::array();
        for (const auto& c : rule.args) {
            nlohmann::ordered_json a;
            a["index"] = c.index;
            a["value"] = c.value;
            a["valueTwo"] = c.value_two;
            a["op"] = to_oci(c.op);
            args.push_back(std::move(a));
        }
        j["args"] = std::move(args);
    }
    return j;
}

std::string condition_text(const SyscallRule& rule)
{
    std::string out;
    for (const auto& c : rule.args) {
        if (!out.empty()) out += " && ";
        if (c.op == CompareOp::MaskedEqual)
            out += fmt::format("arg{} & {:#x} == {}", c.index, c.value, c.value_two);
        else
            out += fmt::format("arg{} {} {}", c.index, to_oci(c.op).substr(9), c.value);
    }
    return out;
}

}  // namespace

std::string_view to_oci(Action action)
{
    switch (action) {
    case Action::Allow: return "SCMP_ACT_ALLOW";
    case Action::Errno: return "SCMP_ACT_ERRNO";
    case Action::KillProcess: return "SCMP_ACT_KILL_PROCESS";
    case Action::KillThread: return "SCMP_ACT_KILL_THREAD";
    case Action::Trap: return "SCMP_ACT_TRAP";
    case Action::Log: return "SCMP_ACT_LOG";
    }
    return "SCMP_ACT_ERRNO";
}

std::optional<Action> action_from_oci(std::string_view name)
{
    if (name == "SCMP_ACT_ALLOW") return Action::Allow;
    if (name == "SCMP_ACT_ERRNO") return Action::Errno;
    if (name == "SCMP_ACT_KILL_PROCESS") return Action::KillProcess;
    if (name == "SCMP_ACT_KILL_THREAD" || name == "SCMP_ACT_KILL") return Action::KillThread;
    if (name == "SCMP_ACT_TRAP") return Action::Trap;
    if (name == "SCMP_ACT_LOG") return Action::Log;
    return std::nullopt;  // SCMP_ACT_TRACE / SCMP_ACT_NOTIFY need a tracer or listener we do not run
}

std::optional<Action> action_from_cli(std::string_view name)
{
    if (name == "errno") return Action::Errno;
    if (name == "kill_process") return Action::KillProcess;
    if (name == "log") return Action::Log;
    return std::nullopt;
}

std::string_view to_oci(CompareOp op)
{
    for (const auto& o : kOps)
        if (o.op == op) return o.name;
    return "SCMP_CMP_EQ";
}

std::span<const std::string_view> dangerous_syscalls() { return kDangerous; }
std::span<const std::string_view> baseline_syscalls() { return kBaseline; }
std::span<const std::uint32_t> allowed_socket_families() { return kSocketFamilies; }

Result<Profile> parse_profile(std::string_view text, std::string_view source)
{
    Json j = Json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return bad(source, "$", "not valid JSON");
    if (!j.is_object()) return bad(source, "$", "a seccomp profile must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto& k = it.key();
        if (k == "listenerPath" || k == "listenerMetadata")
            return bad(source, "$." + k, "user notification listeners are not supported");
        if (k == "archMap") return bad(source, "$.archMap", "Docker's archMap is not supported: use 'architectures'");
        if (k != "defaultAction" && k != "defaultErrnoRet" && k != "architectures" && k != "flags" && k != "syscalls")
            return bad(source, "$", fmt::format("unknown key '{}'", k));
    }
    Profile p;
    if (!j.contains("defaultAction") || !j["defaultAction"].is_string())
        return bad(source, "$.defaultAction", "required, a string");
    auto def = action_from_oci(j["defaultAction"].get<std::string>());
    if (!def) return bad(source, "$.defaultAction", fmt::format("unsupported action '{}'", j["defaultAction"].get<std::string>()));
    p.default_action = *def;
    if (j.contains("defaultErrnoRet")) {
        auto e = read_errno(j["defaultErrnoRet"], source, "$.defaultErrnoRet");
        if (!e) return e.error();
        p.default_errno = *e;
    }
    if (j.contains("architectures")) {
        if (!j["architectures"].is_array()) return bad(source, "$.architectures", "must be an array");
        for (std::size_t i = 0; i < j["architectures"].size(); ++i) {
            const auto& a = j["architectures"][i];
            auto at = fmt::format("$.architectures[{}]", i);
            if (!a.is_string()) return bad(source, at, "must be a string");
            auto name = a.get<std::string>();
            if (std::find(kArchitectures.begin(), kArchitectures.end(), name) == kArchitectures.end())
                return bad(source, at, fmt::format("unknown architecture '{}'", name));
            p.architectures.push_back(std::move(name));
        }
    }
    if (j.contains("flags")) {
        if (!j["flags"].is_array()) return bad(source, "$.flags", "must be an array");
        for (const auto& f : j["flags"])
            if (!f.is_string()) return bad(source, "$.flags", "must be an array of strings");
    }
    if (j.contains("syscalls")) {
        if (!j["syscalls"].is_array()) return bad(source, "$.syscalls", "must be an array");
        for (std::size_t i = 0; i < j["syscalls"].size(); ++i) {
            auto rule = parse_rule(j["syscalls"][i], source, fmt::format("$.syscalls[{}]", i));
            if (!rule) return rule.error();
            p.syscalls.push_back(std::move(rule).value());
        }
    }
    return p;
}

Result<Profile> load_profile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("seccomp: cannot read {}: {}", path, std::strerror(errno)), errno);
    std::stringstream buf;
    buf << in.rdbuf();
    return parse_profile(buf.str(), path);
}

std::string profile_to_json(const Profile& profile)
{
    nlohmann::ordered_json j;
    j["defaultAction"] = to_oci(profile.default_action);
    if (profile.default_errno) j["defaultErrnoRet"] = *profile.default_errno;
    j["architectures"] = profile.architectures;
    auto rules = nlohmann::ordered_json::array();
    for (const auto& r : profile.syscalls) rules.push_back(rule_to_json(r));
    j["syscalls"] = std::move(rules);
    return j.dump(2) + "\n";
}

Result<Generated> generate_profile(const LearnedSet& learned, const GenerateOptions& options)
{
    if (learned.architecture != syscall_arch_name())
        return make_error(fmt::format("seccomp: learned set for {} cannot make a {} profile", learned.architecture,
                                      syscall_arch_name()),
                          EINVAL);
    if (options.action == Action::Allow) return make_error("seccomp: the default action cannot be allow", EINVAL);
    for (const auto& name : options.allow)
        if (!syscall_number(name))
            return make_error(fmt::format("seccomp: --allow names unknown syscall '{}'", name), EINVAL);
    Generated out;
    std::set<std::string> allowed;
    for (const auto& name : learned.syscalls) {
        bool dangerous = std::find(kDangerous.begin(), kDangerous.end(), name) != kDangerous.end();
        if (dangerous && !options.allow.count(name)) {
            out.left_out.push_back(name);
            continue;
        }
        allowed.insert(name);
    }
    for (const auto& name : options.allow) allowed.insert(name);
    for (auto name : kBaseline) {
        if (!syscall_number(name)) continue;
        if (allowed.insert(std::string(name)).second) out.added.emplace_back(name);
    }
    // socket is allowed per family; an explicit --allow socket keeps it unconditional.
    bool socket_by_family = allowed.count("socket") && !options.allow.count("socket");
    if (socket_by_family) allowed.erase("socket");
    // clone(CLONE_NEWUSER) is unshare(CLONE_NEWUSER) by another name: a user namespace is
    // where unprivileged kernel exploits start. clone3 hides its flags in memory a filter
    // cannot read, so it gets ENOSYS and glibc falls back to clone (Docker's default does
    // the same). --allow clone / --allow clone3 keep them unconditional.
    bool clone_guarded = allowed.count("clone") && !options.allow.count("clone");
    if (clone_guarded) allowed.erase("clone");
    bool clone3_enosys = allowed.count("clone3") && !options.allow.count("clone3");
    if (clone3_enosys) allowed.erase("clone3");

    Profile& p = out.profile;
    p.default_action = options.action;
    if (options.action == Action::Errno) p.default_errno = EPERM;
    p.architectures.emplace_back(syscall_arch_name());
    p.syscalls.push_back(SyscallRule{{allowed.begin(), allowed.end()}, Action::Allow, std::nullopt, {}});
    if (socket_by_family)
        for (auto family : kSocketFamilies)
            p.syscalls.push_back(SyscallRule{{"socket"}, Action::Allow, std::nullopt,
                                             {ArgCondition{0, family, 0, CompareOp::Equal}}});
    if (clone_guarded)
        p.syscalls.push_back(SyscallRule{{"clone"}, Action::Allow, std::nullopt,
                                         {ArgCondition{kCloneFlagsArg, kCloneNewUser, 0, CompareOp::MaskedEqual}}});
    if (clone3_enosys) p.syscalls.push_back(SyscallRule{{"clone3"}, Action::Errno, ENOSYS, {}});
    return out;
}

std::string systemd_dropin(const Profile& profile, std::string_view workload)
{
    std::set<std::string> plain;
    bool socket_conditional = false, clone_conditional = false;
    for (const auto& r : profile.syscalls) {
        // clone3's ENOSYS comes from RestrictNamespaces= below, which systemd implements so.
        if (r.action == Action::Errno && r.errno_ret == ENOSYS && r.names == std::vector<std::string>{"clone3"})
            plain.insert("clone3");
        if (r.action != Action::Allow) continue;
        for (const auto& n : r.names) {
            if (r.args.empty()) plain.insert(n);
            else if (n == "socket") socket_conditional = true;
            else if (n == "clone") clone_conditional = true;
        }
    }
    if (socket_conditional) plain.insert("socket");  // families go to RestrictAddressFamilies=
    if (clone_conditional) plain.insert("clone");    // CLONE_NEWUSER goes to RestrictNamespaces=
    std::string names;
    for (const auto& n : plain) names += (names.empty() ? "" : " ") + n;

    std::string out = fmt::format(
        "# Generated by `modelwarden seccomp generate` for workload {} ({}).\n"
        "# Install as /etc/systemd/system/<unit>.service.d/seccomp.conf, then daemon-reload.\n"
        "[Service]\nNoNewPrivileges=yes\nSystemCallArchitectures=native\n",
        workload, syscall_arch_name());
    switch (profile.default_action) {
    case Action::Log: out += fmt::format("SystemCallLog=~{}\n", names); break;
    case Action::Errno:
        out += fmt::format("SystemCallFilter={}\n", names);
        out += fmt::format("SystemCallErrorNumber={}\n",
                           profile.default_errno.value_or(EPERM) == EPERM ? std::string("EPERM")
                                                                           : std::to_string(*profile.default_errno));
        break;
    default: out += fmt::format("SystemCallFilter={}\n", names); break;  // default: SIGSYS kills the process
    }
    if (socket_conditional) {
        out += "RestrictAddressFamilies=";
        bool first = true;
        for (auto family : kSocketFamilies) {
            std::string_view n = family == 1 ? "AF_UNIX" : family == 2 ? "AF_INET" : family == 10 ? "AF_INET6" : "AF_NETLINK";
            out += fmt::format("{}{}", first ? "" : " ", n);
            first = false;
        }
        out += "\n";
    }
    if (clone_conditional) out += "RestrictNamespaces=~user\n";
    return out;
}

std::set<std::string> allowed_names(const Profile& profile)
{
    std::set<std::string> out;
    for (const auto& r : profile.syscalls) {
        if (r.action != Action::Allow) continue;
        for (const auto& n : r.names) out.insert(r.args.empty() ? n : fmt::format("{}({})", n, condition_text(r)));
    }
    return out;
}

std::string diff_profiles(const Profile* previous, const Profile& next)
{
    std::string out;
    auto now = allowed_names(next);
    if (!previous) {
        out += fmt::format("new profile: default {}, {} allowed\n", to_oci(next.default_action), now.size());
        for (const auto& n : now) out += fmt::format("+ {}\n", n);
        return out;
    }
    auto before = allowed_names(*previous);
    if (previous->default_action != next.default_action)
        out += fmt::format("~ default action {} -> {}\n", to_oci(previous->default_action), to_oci(next.default_action));
    std::size_t same = 0;
    for (const auto& n : now) {
        if (before.count(n)) ++same;
        else out += fmt::format("+ {}\n", n);
    }
    for (const auto& n : before)
        if (!now.count(n)) out += fmt::format("- {}\n", n);
    out += fmt::format("= {} unchanged\n", same);
    return out;
}

}  // namespace mw::seccomp
