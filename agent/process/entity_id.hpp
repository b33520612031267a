// entity_id: a stable, unique id per process (Elastic endpoint style), the same whether the
// process was learned from a kernel record or from /proc, and across agent restarts on one boot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mw {

// The per-host, per-boot salt: "<machine-id>:<boot_id>". Empty parts when unreadable.
std::string read_host_boot_key(std::string_view root = "/");

// Nanoseconds per /proc clock tick (USER_HZ). Start times are compared at this
// granularity because /proc/<pid>/stat only has ticks while the kernel has ns.
std::uint64_t proc_tick_ns();

class EntityIdGenerator {
public:
    explicit EntityIdGenerator(std::string host_boot_key);
    // base64url (no padding) of the first 16 bytes of SHA-256(key, pid, start tick): 22 chars.
    std::string make(std::uint32_t pid, std::uint64_t start_time_ns) const;

private:
    std::string key_;
    std::uint64_t tick_ns_;
};

}  // namespace mw
