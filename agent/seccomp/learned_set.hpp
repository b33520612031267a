// Learned syscall sets: what a workload's tasks really called, one JSON file per workload,
// merged across runs and hosts so a profile covers every path the server has taken.
#pragma once

#include "common/result.hpp"

#include "common/abi.hpp"

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace mw::seccomp {

struct LearnedSet {
    std::string workload;
    std::string architecture;            // OCI name, e.g. SCMP_ARCH_X86_64
    std::set<std::string> syscalls;      // names from this architecture's table
    std::uint64_t runs = 0;              // learning runs merged into this set
    std::set<std::string> hosts;         // hostnames that contributed
};

// A workload name usable as a file name: [A-Za-z0-9._-], 1..128 bytes, not starting with '.'.
Result<void> check_workload_name(std::string_view name);

// The set a kernel bitmap describes (bit n = syscall n), on this host and architecture.
// Bits with no name in this architecture's table are errors: they mean a foreign bitmap.
Result<LearnedSet> learned_from_bitmap(std::string_view workload, const mw_syscall_bitmap& bitmap);

std::string learned_to_json(const LearnedSet& set);
// Strict: unknown keys, wrong types and syscall names this architecture lacks are errors.
Result<LearnedSet> parse_learned(std::string_view json, std::string_view source);
Result<LearnedSet> load_learned(const std::filesystem::path& path);

// Union of syscalls, hosts and runs; the workload and architecture must match.
Result<void> merge_learned(LearnedSet& into, const LearnedSet& other);

// Merges `set` into DIR/<workload>.json (created if absent) and writes it atomically.
Result<std::filesystem::path> store_learned(const std::filesystem::path& dir, const LearnedSet& set);

}  // namespace mw::seccomp
