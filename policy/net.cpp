// Parsing and matching of egress destinations (CIDR + port + protocol).
#include "policy/net.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace mw::policy {

std::string_view to_string(Protocol p) {
    switch (p) {
    case Protocol::tcp: return "tcp";
    case Protocol::udp: return "udp";
    case Protocol::any: break;
    }
    return "any";
}

std::array<std::uint8_t, 16> v4_mapped(std::span<const std::uint8_t, 4> v4) {
    std::array<std::uint8_t, 16> a{};
    a[10] = 0xff;
    a[11] = 0xff;
    std::memcpy(a.data() + 12, v4.data(), 4);
    return a;
}

Result<std::uint16_t> parse_port(std::string_view text) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v == 0 || v > 65535)
        return make_error(fmt::format("'{}' is not a port (1..65535)", text));
    return static_cast<std::uint16_t>(v);
}

static bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
    unsigned bytes = bits / 8;
    if (std::memcmp(a, b, bytes) != 0) return false;
    unsigned rem = bits % 8;
    if (rem == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool NetEndpoint::matches(int family, std::span<const std::uint8_t> address, std::uint16_t dst_port,
                          Protocol proto) const noexcept {
    if (port != 0 && port != dst_port) return false;
    if (protocol != Protocol::any && proto != protocol) return false;
    std::array<std::uint8_t, 16> a{};
    if (family == AF_INET && address.size() >= 4) {
        a = v4_mapped(address.first<4>());
    } else if (family == AF_INET6 && address.size() >= 16) {
        std::memcpy(a.data(), address.data(), 16);
    } else {
        return false;
    }
    return prefix_equal(a.data(), addr.data(), prefix_len);
}

Result<NetEndpoint> parse_net_endpoint(std::string_view text) {
    NetEndpoint ep;
    ep.text = std::string(text);
    auto fail = [&](std::string_view why) { return make_error(fmt::format("destination '{}': {}", text, why)); };
    if (text.empty()) return fail("empty");

    std::string_view rest = text;
    // Protocol suffix, only after a port: "…:53/udp".
    std::string_view addr_part, port_part;
    bool has_port = false;
    auto take_proto = [&](std::string_view& s) -> bool {
        auto slash = s.rfind('/');
        if (slash == std::string_view::npos) return true;
        std::string_view p = s.substr(slash + 1);
        if (p == "tcp") ep.protocol = Protocol::tcp;
        else if (p == "udp") ep.protocol = Protocol::udp;
        else return false;
        s = s.substr(0, slash);
        return true;
    };
    if (rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos) return fail("missing ']'");
        addr_part = rest.substr(1, close - 1);
        std::string_view after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("expected ':PORT' after ']'");
            port_part = after.substr(1);
            has_port = true;
        }
    } else if (std::count(rest.begin(), rest.end(), ':') >= 2) {
        addr_part = rest;  // bare IPv6, no port possible without brackets
    } else {
        auto colon = rest.find(':');
        if (colon == std::string_view::npos) {
            addr_part = rest;
        } else {
            addr_part = rest.substr(0, colon);
            port_part = rest.substr(colon + 1);
            has_port = true;
        }
    }
    if (has_port) {
        if (!take_proto(port_part)) return fail("protocol must be tcp or udp");
        if (port_part == "*") {
            ep.port = 0;
        } else {
            auto p = parse_port(port_part);
            if (!p) return fail(p.error().message);
            ep.port = *p;
        }
    }

    std::string_view ip = addr_part;
    int len = -1;
    if (auto slash = addr_part.find('/'); slash != std::string_view::npos) {
        ip = addr_part.substr(0, slash);
        std::string_view l = addr_part.substr(slash + 1);
        int v = 0;
        auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), v);
        if (l.empty() || ec != std::errc() || p != l.data() + l.size()) return fail("bad prefix length");
        len = v;
    }
    std::string ip_str(ip);
    std::uint8_t buf[16];
    if (inet_pton(AF_INET, ip_str.c_str(), buf) == 1) {
        if (len == -1) len = 32;
        if (len < 0 || len > 32) return fail("IPv4 prefix length must be 0..32");
        ep.v4 = true;
        ep.addr = v4_mapped(std::span<const std::uint8_t, 4>(buf, 4));
        ep.prefix_len = static_cast<std::uint8_t>(96 + len);
    } else if (inet_pton(AF_INET6, ip_str.c_str(), buf) == 1) {
        if (len == -1) len = 128;
        if (len < 0 || len > 128) return fail("IPv6 prefix length must be 0..128");
        std::memcpy(ep.addr.data(), buf, 16);
        ep.prefix_len = static_cast<std::uint8_t>(len);
    } else {
        return fail("not an IPv4/IPv6 address (hostnames are not supported)");
    }
    // Host bits below the prefix: "10.0.0.1/8" is almost certainly a typo for a narrower rule.
    for (unsigned bit = ep.prefix_len; bit < 128; ++bit) {
        if (ep.addr[bit / 8] & (0x80 >> (bit % 8))) return fail("address has bits set beyond the prefix length");
    }
    return ep;
}

}  // namespace mw::policy
