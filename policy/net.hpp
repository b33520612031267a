// Network destinations in egress allow lists: IPv4/IPv6 CIDR, optional port, optional
// protocol ("10.0.0.0/8:443", "[fd00::/8]:*", "0.0.0.0/0:53/udp", "::1").
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mw::policy {

enum class Protocol : std::uint8_t { any = 0, tcp = 1, udp = 2 };
std::string_view to_string(Protocol p);

struct NetEndpoint {
    // Always IPv6 form: IPv4 is stored v4-mapped (::ffff:a.b.c.d) with prefix_len + 96,
    // which is also how the kernel trie holds it.
    std::array<std::uint8_t, 16> addr{};
    std::uint8_t prefix_len = 0;   // bits of addr that must match (0..128)
    bool v4 = false;               // written as IPv4 in the policy
    std::uint16_t port = 0;        // host order; 0 = any port
    Protocol protocol = Protocol::any;
    std::string text;              // as written, for messages

    // family: AF_INET (addr = 4 bytes) or AF_INET6 (16 bytes); other families never match.
    bool matches(int family, std::span<const std::uint8_t> address, std::uint16_t dst_port,
                 Protocol proto = Protocol::any) const noexcept;
};

// Forms: ADDR[/LEN][:PORT|:*][/tcp|/udp] for IPv4, [ADDR[/LEN]]:PORT|* [/tcp|/udp] or a bare
// ADDR[/LEN] for IPv6. Host bits set below the prefix are an error (a typo, never a wish).
// Hostnames are rejected: the kernel matches addresses, and DNS would be an unchecked input.
Result<NetEndpoint> parse_net_endpoint(std::string_view text);

// Port number from text, 1..65535.
Result<std::uint16_t> parse_port(std::string_view text);

// IPv4 address bytes -> v4-mapped IPv6 bytes.
std::array<std::uint8_t, 16> v4_mapped(std::span<const std::uint8_t, 4> v4);

}  // namespace mw::policy
