// Learned syscall sets: bitmap decoding, strict JSON form, merging and atomic storage.
#include "seccomp/learned_set.hpp"

#include "syscalls/syscall_table.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mw::seccomp {
namespace {

std::string this_host()
{
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
    return name;
}

}  // namespace

Result<void> check_workload_name(std::string_view name)
{
    if (name.empty() || name.size() > 128)
        return make_error(fmt::format("seccomp: workload name '{}' must be 1..128 bytes", name), EINVAL);
    if (name.front() == '.') return make_error(fmt::format("seccomp: workload name '{}' starts with '.'", name), EINVAL);
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok)
            return make_error(fmt::format("seccomp: workload name '{}' may hold only letters, digits, '.', '_', '-'", name),
                              EINVAL);
    }
    return {};
}

Result<LearnedSet> learned_from_bitmap(std::string_view workload, const mw_syscall_bitmap& bitmap)
{
    if (auto ok = check_workload_name(workload); !ok) return ok.error();
    LearnedSet set;
    set.workload = workload;
    set.architecture = syscall_arch_name();
    set.runs = 1;
    set.hosts.insert(this_host());
    for (std::uint32_t word = 0; word < MW_SYSCALL_BITMAP_WORDS; ++word) {
        for (std::uint32_t bit = 0; bit < 64; ++bit) {
            if (!(bitmap.words[word] & (1ull << bit))) continue;
            std::uint32_t nr = word * 64 + bit;
            auto name = syscall_name(nr);
            if (name.empty())
                return make_error(fmt::format("seccomp: learned syscall number {} has no name on {}", nr,
                                              syscall_arch_name()),
                                  EINVAL);
            set.syscalls.emplace(name);
        }
    }
    return set;
}

std::string learned_to_json(const LearnedSet& set)
{
    nlohmann::ordered_json j;
    j["workload"] = set.workload;
    j["architecture"] = set.architecture;
    j["runs"] = set.runs;
    j["hosts"] = set.hosts;
    j["syscalls"] = set.syscalls;
    return j.dump(2) + "\n";
}

Result<LearnedSet> parse_learned(std::string_view text, std::string_view source)
{
    auto fail = [&](const std::string& why) { return make_error(fmt::format("seccomp: {}: {}", source, why), EINVAL); };
    nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return fail("not valid JSON");
    if (!j.is_object()) return fail("a learned set must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto& k = it.key();
        if (k != "workload" && k != "architecture" && k != "runs" && k != "hosts" && k != "syscalls")
            return fail(fmt::format("unknown key '{}'", k));
    }
    LearnedSet set;
    if (!j.contains("workload") || !j["workload"].is_string()) return fail("'workload' must be a string");
    set.workload = j["workload"].get<std::string>();
    if (auto ok = check_workload_name(set.workload); !ok) return fail(ok.error().message);
    if (!j.contains("architecture") || !j["architecture"].is_string()) return fail("'architecture' must be a string");
    set.architecture = j["architecture"].get<std::string>();
    if (set.architecture != syscall_arch_name())
        return fail(fmt::format("learned on {}, this host is {}", set.architecture, syscall_arch_name()));
    if (j.contains("runs")) {
        if (!j["runs"].is_number_unsigned()) return fail("'runs' must be a non-negative integer");
        set.runs = j["runs"].get<std::uint64_t>();
    }
    if (j.contains("hosts")) {
        if (!j["hosts"].is_array()) return fail("'hosts' must be an array of strings");
        for (const auto& h : j["hosts"]) {
            if (!h.is_string()) return fail("'hosts' must be an array of strings");
            set.hosts.insert(h.get<std::string>());
        }
    }
    if (!j.contains("syscalls") || !j["syscalls"].is_array()) return fail("'syscalls' must be an array of names");
    for (const auto& s : j["syscalls"]) {
        if (!s.is_string()) return fail("'syscalls' must be an array of names");
        auto name = s.get<std::string>();
        if (!syscall_number(name)) return fail(fmt::format("unknown syscall '{}' on {}", name, syscall_arch_name()));
        set.syscalls.insert(std::move(name));
    }
    return set;
}

Result<LearnedSet> load_learned(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("seccomp: cannot read {}: {}", path.string(), std::strerror(errno)), errno);
    std::stringstream buf;
    buf << in.rdbuf();
    return parse_learned(buf.str(), path.string());
}

Result<void> merge_learned(LearnedSet& into, const LearnedSet& other)
{
    if (into.workload != other.workload)
        return make_error(fmt::format("seccomp: cannot merge workload '{}' into '{}'", other.workload, into.workload),
                          EINVAL);
    if (into.architecture != other.architecture)
        return make_error(fmt::format("seccomp: cannot merge a {} set into a {} set", other.architecture,
                                      into.architecture),
                          EINVAL);
    into.syscalls.insert(other.syscalls.begin(), other.syscalls.end());
    into.hosts.insert(other.hosts.begin(), other.hosts.end());
    into.runs += other.runs;
    return {};
}

Result<std::filesystem::path> store_learned(const std::filesystem::path& dir, const LearnedSet& set)
{
    if (auto ok = check_workload_name(set.workload); !ok) return ok.error();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(fmt::format("seccomp: cannot create {}: {}", dir.string(), ec.message()), ec.value());
    auto path = dir / (set.workload + ".json");
    LearnedSet merged = set;
    if (std::filesystem::exists(path, ec)) {
        auto previous = load_learned(path);
        if (!previous) return previous.error();
        merged = std::move(previous).value();
        if (auto ok = merge_learned(merged, set); !ok) return ok.error();
    }
    auto tmp = path;
    tmp += fmt::format(".tmp.{}", ::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << learned_to_json(merged);
        out.flush();
        if (!out) return make_error(fmt::format("seccomp: cannot write {}", tmp.string()), EIO);
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) return make_error(fmt::format("seccomp: cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message()),
                              ec.value());
    return path;
}

}  // namespace mw::seccomp
