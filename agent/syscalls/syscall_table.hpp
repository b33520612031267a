// Syscall names and numbers for the architecture the agent runs on (generated from the
// kernel's UAPI header at build time; see CMakeLists.txt).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace mw {

struct SyscallEntry {
    std::uint32_t nr;
    std::string_view name;
};

// "" for an unknown number.
std::string_view syscall_name(std::uint32_t nr);
std::optional<std::uint32_t> syscall_number(std::string_view name);
// Every syscall of this architecture, by number.
std::span<const SyscallEntry> syscall_table();
// The architecture as the OCI runtime spec names it, e.g. "SCMP_ARCH_X86_64".
std::string_view syscall_arch_name();

}  // namespace mw
