// Unit tests for mw_seccomp without root: OCI profile structure (checked against the
// runtime spec's seccomp schema and this architecture's syscall table), strict parsing
// errors, diff, systemd drop-in, learned-set JSON, merging and storage.
#include "seccomp/learned_set.hpp"
#include "seccomp/log_profiles.hpp"
#include "seccomp/profile.hpp"
#include "syscalls/syscall_table.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

using namespace mw::seccomp;

namespace {

// The OCI runtime spec's LinuxSeccomp schema (config-linux.json, defs-linux.json), checked
// by hand: returns "" when `text` conforms, else what is wrong. Names must be this
// architecture's syscalls.
std::string oci_schema_problem(const std::string& text)
{
    static const std::set<std::string> actions = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                                  "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",
                                                  "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"};
    static const std::set<std::string> ops = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                              "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
    static const std::set<std::string> arches = {
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64"};
    std::set<std::string> known;
    for (const auto& e : mw::syscall_table()) known.insert(std::string(e.name));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return "not an object";
    if (!j.contains("defaultAction") || !j["defaultAction"].is_string() || !actions.count(j["defaultAction"]))
        return "defaultAction";
    if (j.contains("defaultErrnoRet") && !j["defaultErrnoRet"].is_number_unsigned()) return "defaultErrnoRet";
    if (j.contains("architectures")) {
        if (!j["architectures"].is_array()) return "architectures";
        for (const auto& a : j["architectures"])
            if (!a.is_string() || !arches.count(a)) return "architecture " + a.dump();
    }
    if (!j.contains("syscalls")) return "";
    if (!j["syscalls"].is_array()) return "syscalls";
    for (const auto& s : j["syscalls"]) {
        if (!s.is_object() || !s.contains("names") || !s["names"].is_array() || s["names"].empty()) return "names";
        for (const auto& n : s["names"])
            if (!n.is_string() || !known.count(n)) return "syscall " + n.dump();
        if (!s.contains("action") || !s["action"].is_string() || !actions.count(s["action"])) return "action";
        if (s.contains("errnoRet") && !s["errnoRet"].is_number_unsigned()) return "errnoRet";
        if (s.contains("args")) {
            if (!s["args"].is_array()) return "args";
            for (const auto& a : s["args"]) {
                if (!a.is_object() || !a.contains("index") || !a["index"].is_number_unsigned() || a["index"] > 5)
                    return "args.index";
                if (!a.contains("value") || !a["value"].is_number_unsigned()) return "args.value";
                if (a.contains("valueTwo") && !a["valueTwo"].is_number_unsigned()) return "args.valueTwo";
                if (!a.contains("op") || !a["op"].is_string() || !ops.count(a["op"])) return "args.op";
            }
        }
    }
    return "";
}

LearnedSet learned(std::set<std::string> names)
{
    LearnedSet s;
    s.workload = "torch-server";
    s.architecture = std::string(mw::syscall_arch_name());
    s.syscalls = std::move(names);
    s.runs = 1;
    s.hosts = {"host-a"};
    return s;
}

std::string error_of(std::string_view json)
{
    auto p = parse_profile(json, "p.json");
    return p ? std::string("parsed") : p.error().message;
}

}  // namespace

TEST_CASE("generated profile: learned syscalls allowed, dangerous left out, sockets by family", "[seccomp]")
{
    auto g = generate_profile(learned({"read", "write", "openat", "mmap", "socket", "ptrace", "bpf", "mount", "exit_group"}), {});
    REQUIRE(g);
    const Profile& p = g->profile;
    CHECK(p.default_action == Action::Errno);
    CHECK(p.default_errno == std::optional<std::uint32_t>(EPERM));
    CHECK(p.architectures == std::vector<std::string>{std::string(mw::syscall_arch_name())});
    REQUIRE(p.syscalls.size() == 5);
    CHECK(p.syscalls[0].names ==
          std::vector<std::string>{"exit", "exit_group", "mmap", "openat", "read", "restart_syscall", "rt_sigreturn", "write"});
    CHECK(p.syscalls[0].action == Action::Allow);
    CHECK(p.syscalls[0].args.empty());
    std::vector<std::uint64_t> families;
    for (std::size_t i = 1; i < 5; ++i) {
        CHECK(p.syscalls[i].names == std::vector<std::string>{"socket"});
        REQUIRE(p.syscalls[i].args.size() == 1);
        CHECK(p.syscalls[i].args[0].index == 0);
        CHECK(p.syscalls[i].args[0].op == CompareOp::Equal);
        families.push_back(p.syscalls[i].args[0].value);
    }
    CHECK(families == std::vector<std::uint64_t>{1, 2, 10, 16});
    CHECK(g->left_out == std::vector<std::string>{"bpf", "mount", "ptrace"});
    CHECK(g->added == std::vector<std::string>{"exit", "rt_sigreturn", "restart_syscall"});

    auto json = profile_to_json(p);
    CHECK(oci_schema_problem(json) == "");
    auto j = nlohmann::json::parse(json);
    CHECK(j["defaultAction"] == "SCMP_ACT_ERRNO");
    CHECK(j["defaultErrnoRet"] == 1);
}

TEST_CASE("generated profile: --allow keeps a dangerous syscall, kill_process and log defaults", "[seccomp]")
{
    GenerateOptions o;
    o.allow = {"ptrace", "socket"};
    o.action = Action::KillProcess;
    auto g = generate_profile(learned({"read", "ptrace", "socket"}), o);
    REQUIRE(g);
    CHECK(g->left_out.empty());
    REQUIRE(g->profile.syscalls.size() == 1);  // --allow socket: unconditional, no per-family rules
    const auto& names = g->profile.syscalls[0].names;
    CHECK(std::count(names.begin(), names.end(), "ptrace") == 1);
    CHECK(std::count(names.begin(), names.end(), "socket") == 1);
    CHECK(g->profile.default_action == Action::KillProcess);
    CHECK(!g->profile.default_errno);
    CHECK(nlohmann::json::parse(profile_to_json(g->profile))["defaultAction"] == "SCMP_ACT_KILL_PROCESS");

    o.action = Action::Log;
    auto logged = generate_profile(learned({"read"}), o);
    REQUIRE(logged);
    CHECK(nlohmann::json::parse(profile_to_json(logged->profile))["defaultAction"] == "SCMP_ACT_LOG");

    o.allow = {"no_such_syscall"};
    auto bad = generate_profile(learned({"read"}), o);
    REQUIRE(!bad);
    CHECK(bad.error().message == "seccomp: --allow names unknown syscall 'no_such_syscall'");
}

TEST_CASE("every dangerous and baseline name is a syscall of this architecture or absent from it", "[seccomp]")
{
    // The generator skips names the architecture lacks; the ones it has must resolve.
    CHECK(mw::syscall_number("ptrace"));
    CHECK(mw::syscall_number("init_module"));
    CHECK(mw::syscall_number("exit_group"));
    for (auto n : baseline_syscalls()) CHECK(mw::syscall_number(n));
}

TEST_CASE("profile JSON round-trips through the strict parser", "[seccomp]")
{
    auto g = generate_profile(learned({"read", "write", "socket", "futex"}), {});
    REQUIRE(g);
    auto parsed = parse_profile(profile_to_json(g->profile), "gen.json");
    REQUIRE(parsed);
    CHECK(allowed_names(*parsed) == allowed_names(g->profile));
    CHECK(parsed->default_action == Action::Errno);
    CHECK(parsed->default_errno == std::optional<std::uint32_t>(1));
    CHECK(profile_to_json(*parsed) == profile_to_json(g->profile));
}

TEST_CASE("profile parser: clear errors with the JSON path", "[seccomp]")
{
    CHECK(error_of("{") == "seccomp: p.json: $: not valid JSON");
    CHECK(error_of("[]") == "seccomp: p.json: $: a seccomp profile must be a JSON object");
    CHECK(error_of(R"({"syscalls":[]})") == "seccomp: p.json: $.defaultAction: required, a string");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_NOPE"})") ==
          "seccomp: p.json: $.defaultAction: unsupported action 'SCMP_ACT_NOPE'");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","extra":1})") == "seccomp: p.json: $: unknown key 'extra'");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]})") ==
          "seccomp: p.json: $.architectures[0]: unknown architecture 'SCMP_ARCH_VAX'");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","frobnicate"],"action":"SCMP_ACT_ALLOW"}]})") ==
          fmt::format("seccomp: p.json: $.syscalls[0].names[1]: unknown syscall 'frobnicate' on {}", mw::syscall_arch_name()));
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":[],"action":"SCMP_ACT_ALLOW"}]})") ==
          "seccomp: p.json: $.syscalls[0].names: must be a non-empty array of syscall names");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"]}]})") ==
          "seccomp: p.json: $.syscalls[0].action: must be a string");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]})") ==
          "seccomp: p.json: $.syscalls[0].errnoRet: only SCMP_ACT_ERRNO takes an errno");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]})") ==
          "seccomp: p.json: $.syscalls[0].args[0].index: must be an argument index 0..5");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]})") ==
          "seccomp: p.json: $.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_LIKE'");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]})") ==
          "seccomp: p.json: $.syscalls[0].includes: Docker's capability/arch conditions are not supported: expand them");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1})") ==
          "seccomp: p.json: $.defaultErrnoRet: must be an errno number 0..4095");
    CHECK(error_of(R"({"defaultAction":"SCMP_ACT_NOTIFY"})") ==
          "seccomp: p.json: $.defaultAction: unsupported action 'SCMP_ACT_NOTIFY'");
    // Docker's own default profile shape (comment keys, SCMP_ACT_KILL alias) is accepted.
    auto docker = parse_profile(R"({"defaultAction":"SCMP_ACT_KILL","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64"],
        "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","comment":"io"}]})", "docker.json");
    REQUIRE(docker);
    CHECK(docker->default_action == Action::KillThread);
}

TEST_CASE("diff lists added and removed syscalls and the default action change", "[seccomp]")
{
    auto before = generate_profile(learned({"read", "write", "futex"}), {});
    GenerateOptions kill;
    kill.action = Action::KillProcess;
    auto after = generate_profile(learned({"read", "openat", "futex"}), kill);
    REQUIRE(before);
    REQUIRE(after);
    CHECK(diff_profiles(&before->profile, after->profile) ==
          "~ default action SCMP_ACT_ERRNO -> SCMP_ACT_KILL_PROCESS\n"
          "+ openat\n"
          "- write\n"
          "= 6 unchanged\n");
    CHECK(diff_profiles(&after->profile, after->profile) == "= 7 unchanged\n");
    auto fresh = generate_profile(learned({"read"}), {});
    REQUIRE(fresh);
    CHECK(diff_profiles(nullptr, fresh->profile) ==
          "new profile: default SCMP_ACT_ERRNO, 5 allowed\n+ exit\n+ exit_group\n+ read\n+ restart_syscall\n+ rt_sigreturn\n");
}

TEST_CASE("systemd drop-in: filter, error number, address families", "[seccomp]")
{
    auto g = generate_profile(learned({"read", "socket"}), {});
    REQUIRE(g);
    CHECK(systemd_dropin(g->profile, "torch-server") ==
          fmt::format("# Generated by `modelwarden seccomp generate` for workload torch-server ({}).\n"
                      "# Install as /etc/systemd/system/<unit>.service.d/seccomp.conf, then daemon-reload.\n"
                      "[Service]\nNoNewPrivileges=yes\nSystemCallArchitectures=native\n"
                      "SystemCallFilter=exit exit_group read restart_syscall rt_sigreturn socket\n"
                      "SystemCallErrorNumber=EPERM\n"
                      "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n",
                      mw::syscall_arch_name()));
    GenerateOptions log;
    log.action = Action::Log;
    auto logged = generate_profile(learned({"read"}), log);
    REQUIRE(logged);
    auto text = systemd_dropin(logged->profile, "w");
    CHECK(text.find("SystemCallLog=~exit exit_group read restart_syscall rt_sigreturn\n") != std::string::npos);
    CHECK(text.find("SystemCallFilter=") == std::string::npos);
}

TEST_CASE("learned sets: bitmap decoding, JSON, merge, storage", "[seccomp]")
{
    mw_syscall_bitmap bm{};
    auto set_bit = [&](std::string_view name) {
        auto nr = *mw::syscall_number(name);
        bm.words[nr / 64] |= 1ull << (nr % 64);
    };
    set_bit("read");
    set_bit("openat");
    set_bit("accept4");
    auto l = learned_from_bitmap("torch-server", bm);
    REQUIRE(l);
    CHECK(l->syscalls == std::set<std::string>{"accept4", "openat", "read"});
    CHECK(l->runs == 1);
    CHECK(l->architecture == mw::syscall_arch_name());

    mw_syscall_bitmap foreign{};
    foreign.words[7] = 1ull << 63;  // nr 511: no syscall has it
    auto bad = learned_from_bitmap("w", foreign);
    REQUIRE(!bad);
    CHECK(bad.error().message == fmt::format("seccomp: learned syscall number 511 has no name on {}", mw::syscall_arch_name()));

    auto reparsed = parse_learned(learned_to_json(*l), "l.json");
    REQUIRE(reparsed);
    CHECK(reparsed->syscalls == l->syscalls);
    CHECK(reparsed->hosts == l->hosts);

    auto a = learned({"read"});
    auto b = learned({"write"});
    b.hosts = {"host-b"};
    REQUIRE(merge_learned(a, b));
    CHECK(a.syscalls == std::set<std::string>{"read", "write"});
    CHECK(a.hosts == std::set<std::string>{"host-a", "host-b"});
    CHECK(a.runs == 2);
    auto other = learned({"read"});
    other.workload = "other";
    auto refused = merge_learned(a, other);
    REQUIRE(!refused);
    CHECK(refused.error().message == "seccomp: cannot merge workload 'other' into 'torch-server'");

    auto dir = std::filesystem::temp_directory_path() / fmt::format("mw-seccomp-unit-{}", ::getpid());
    std::filesystem::remove_all(dir);
    auto first = store_learned(dir, learned({"read"}));
    REQUIRE(first);
    CHECK(*first == dir / "torch-server.json");
    REQUIRE(store_learned(dir, learned({"mmap"})));
    auto stored = load_learned(dir / "torch-server.json");
    REQUIRE(stored);
    CHECK(stored->syscalls == std::set<std::string>{"mmap", "read"});
    CHECK(stored->runs == 2);
    std::filesystem::remove_all(dir);
}

TEST_CASE("learned set parser and workload names reject bad input", "[seccomp]")
{
    auto arch = std::string(mw::syscall_arch_name());
    auto err = [](std::string_view text) {
        auto r = parse_learned(text, "l.json");
        return r ? std::string("parsed") : r.error().message;
    };
    CHECK(err("nope") == "seccomp: l.json: not valid JSON");
    CHECK(err(R"({"workload":"w","architecture":"SCMP_ARCH_VAX","syscalls":[]})") ==
          fmt::format("seccomp: l.json: learned on SCMP_ARCH_VAX, this host is {}", arch));
    CHECK(err(fmt::format(R"({{"workload":"w","architecture":"{}","syscalls":["read","zap"]}})", arch)) ==
          fmt::format("seccomp: l.json: unknown syscall 'zap' on {}", arch));
    CHECK(err(fmt::format(R"({{"workload":"../etc","architecture":"{}","syscalls":[]}})", arch)) ==
          "seccomp: l.json: seccomp: workload name '../etc' starts with '.'");
    CHECK(err(fmt::format(R"({{"workload":"w","architecture":"{}","syscalls":[],"x":1}})", arch)) ==
          "seccomp: l.json: unknown key 'x'");
    CHECK(!check_workload_name("a/b"));
    CHECK(!check_workload_name(""));
    CHECK(check_workload_name("torch-server_1.2"));
}

TEST_CASE("generated profile: clone without CLONE_NEWUSER, clone3 ENOSYS, unless allowed", "[seccomp]")
{
    auto g = generate_profile(learned({"read", "clone", "clone3"}), {});
    REQUIRE(g);
    const Profile& p = g->profile;
    REQUIRE(p.syscalls.size() == 3);
    CHECK(p.syscalls[0].names == std::vector<std::string>{"exit", "exit_group", "read", "restart_syscall", "rt_sigreturn"});
    CHECK(p.syscalls[1].names == std::vector<std::string>{"clone"});
    CHECK(p.syscalls[1].action == Action::Allow);
    REQUIRE(p.syscalls[1].args.size() == 1);
    CHECK(p.syscalls[1].args[0].index == 0);
    CHECK(p.syscalls[1].args[0].op == CompareOp::MaskedEqual);
    CHECK(p.syscalls[1].args[0].value == 0x10000000);  // the mask: CLONE_NEWUSER
    CHECK(p.syscalls[1].args[0].value_two == 0);        // must be clear
    CHECK(p.syscalls[2].names == std::vector<std::string>{"clone3"});
    CHECK(p.syscalls[2].action == Action::Errno);
    CHECK(p.syscalls[2].errno_ret == std::optional<std::uint32_t>(ENOSYS));
    auto json = profile_to_json(p);
    CHECK(oci_schema_problem(json) == "");
    auto reparsed = parse_profile(json, "p.json");
    REQUIRE(reparsed);
    CHECK(allowed_names(*reparsed) ==
          std::set<std::string>{"clone(arg0 & 0x10000000 == 0)", "exit", "exit_group", "read", "restart_syscall",
                                "rt_sigreturn"});
    CHECK(systemd_dropin(p, "w").find("SystemCallFilter=clone clone3 exit exit_group read restart_syscall rt_sigreturn\n"
                                      "SystemCallErrorNumber=EPERM\nRestrictNamespaces=~user\n") != std::string::npos);

    GenerateOptions o;
    o.allow = {"clone", "clone3"};
    auto kept = generate_profile(learned({"read", "clone", "clone3"}), o);
    REQUIRE(kept);
    REQUIRE(kept->profile.syscalls.size() == 1);
    CHECK(kept->profile.syscalls[0].names ==
          std::vector<std::string>{"clone", "clone3", "exit", "exit_group", "read", "restart_syscall", "rt_sigreturn"});
    CHECK(systemd_dropin(kept->profile, "w").find("RestrictNamespaces") == std::string::npos);
}

TEST_CASE("log profiles: which profiles log, and the allowed bitmap the agent compares with", "[seccomp]")
{
    Profile p;
    p.default_action = Action::Errno;
    SyscallRule allowed;
    allowed.names = {"read", "write"};
    SyscallRule by_family;  // argument conditions: still allowed in the bitmap
    by_family.names = {"socket"};
    by_family.args = {ArgCondition{0, 1, 0, CompareOp::Equal}};
    SyscallRule enosys;
    enosys.names = {"clone3"};
    enosys.action = Action::Errno;
    p.syscalls = {allowed, by_family, enosys};
    CHECK_FALSE(logs_syscalls(p));
    p.default_action = Action::Log;
    CHECK(logs_syscalls(p));
    p.default_action = Action::KillProcess;
    p.syscalls.push_back(SyscallRule{{"ptrace"}, Action::Log, std::nullopt, {}});
    CHECK(logs_syscalls(p));

    const mw_syscall_bitmap b = allowed_bitmap(p);
    std::set<std::uint32_t> set_bits;
    for (std::uint32_t nr = 0; nr < MW_SYSCALL_BITMAP_WORDS * 64; ++nr)
        if ((b.words[nr / 64] >> (nr % 64)) & 1) set_bits.insert(nr);
    const std::set<std::uint32_t> want{*mw::syscall_number("read"), *mw::syscall_number("write"),
                                       *mw::syscall_number("socket")};
    CHECK(set_bits == want);  // clone3 (errno) and ptrace (log) are not allowed
}

TEST_CASE("log profiles: registering without an agent's pin is not an error", "[seccomp]")
{
    Profile p;
    p.default_action = Action::Log;
    auto r = register_log_profile(p, 42, "/nonexistent-dir/mw-no-such-pin");
    REQUIRE(r);
    CHECK_FALSE(*r);
}
