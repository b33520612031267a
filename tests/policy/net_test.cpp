// Egress destination parsing and matching.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "policy/net.hpp"

using namespace mw::policy;

static NetEndpoint ep(const char* t) {
    auto r = parse_net_endpoint(t);
    INFO(t << ": " << (r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
    return *r;
}

static std::array<std::uint8_t, 4> v4(const char* s) {
    std::array<std::uint8_t, 4> a{};
    REQUIRE(inet_pton(AF_INET, s, a.data()) == 1);
    return a;
}

static std::array<std::uint8_t, 16> v6(const char* s) {
    std::array<std::uint8_t, 16> a{};
    REQUIRE(inet_pton(AF_INET6, s, a.data()) == 1);
    return a;
}

TEST_CASE("policy net: IPv4 CIDR with port", "[policy][net]") {
    auto e = ep("10.0.0.0/8:443");
    CHECK(e.v4);
    CHECK(e.prefix_len == 104);
    CHECK(e.port == 443);
    CHECK(e.protocol == Protocol::any);
    CHECK(e.addr == v6("::ffff:10.0.0.0"));
    CHECK(e.matches(AF_INET, v4("10.1.2.3"), 443));
    CHECK_FALSE(e.matches(AF_INET, v4("10.1.2.3"), 80));
    CHECK_FALSE(e.matches(AF_INET, v4("11.1.2.3"), 443));
    CHECK(e.matches(AF_INET6, v6("::ffff:10.9.9.9"), 443));  // v4-mapped v6 socket
    CHECK_FALSE(e.matches(AF_UNIX, v4("10.1.2.3"), 443));
}

TEST_CASE("policy net: forms without port, any port, protocol", "[policy][net]") {
    auto host = ep("127.0.0.1");
    CHECK(host.prefix_len == 128);
    CHECK(host.port == 0);
    CHECK(host.matches(AF_INET, v4("127.0.0.1"), 9999));
    CHECK_FALSE(host.matches(AF_INET, v4("127.0.0.2"), 9999));
    auto any = ep("127.0.0.1:*");
    CHECK(any.port == 0);
    auto dns = ep("0.0.0.0/0:53/udp");
    CHECK(dns.prefix_len == 96);
    CHECK(dns.protocol == Protocol::udp);
    CHECK(dns.matches(AF_INET, v4("8.8.8.8"), 53, Protocol::udp));
    CHECK_FALSE(dns.matches(AF_INET, v4("8.8.8.8"), 53, Protocol::tcp));
    CHECK_FALSE(dns.matches(AF_INET6, v6("2001:db8::1"), 53, Protocol::udp));  // v4 rule, real v6 address
    CHECK(ep("10.0.0.1:443/tcp").protocol == Protocol::tcp);
}

TEST_CASE("policy net: IPv6 forms", "[policy][net]") {
    auto lo = ep("[::1]:443");
    CHECK_FALSE(lo.v4);
    CHECK(lo.prefix_len == 128);
    CHECK(lo.port == 443);
    CHECK(lo.matches(AF_INET6, v6("::1"), 443));
    CHECK_FALSE(lo.matches(AF_INET6, v6("::2"), 443));
    auto net = ep("[fd00::/8]:*");
    CHECK(net.prefix_len == 8);
    CHECK(net.matches(AF_INET6, v6("fd12:3456::1"), 1));
    CHECK_FALSE(net.matches(AF_INET6, v6("fe80::1"), 1));
    auto bare = ep("2001:db8::/32");
    CHECK(bare.prefix_len == 32);
    CHECK(bare.port == 0);
    CHECK(ep("[2001:db8::1]:53/udp").protocol == Protocol::udp);
}

TEST_CASE("policy net: bad destinations are errors", "[policy][net]") {
    auto msg = [](const char* t) { return parse_net_endpoint(t).error().message; };
    CHECK(msg("10.0.0.1/8") == "destination '10.0.0.1/8': address has bits set beyond the prefix length");
    CHECK(msg("10.0.0.0/33") == "destination '10.0.0.0/33': IPv4 prefix length must be 0..32");
    CHECK(msg("10.0.0.0/x") == "destination '10.0.0.0/x': bad prefix length");
    CHECK(msg("example.com:443") == "destination 'example.com:443': not an IPv4/IPv6 address (hostnames are not supported)");
    CHECK(msg("10.0.0.1:0") == "destination '10.0.0.1:0': '0' is not a port (1..65535)");
    CHECK(msg("10.0.0.1:65536") == "destination '10.0.0.1:65536': '65536' is not a port (1..65535)");
    CHECK(msg("10.0.0.1:80/sctp") == "destination '10.0.0.1:80/sctp': protocol must be tcp or udp");
    CHECK(msg("[::1") == "destination '[::1': missing ']'");
    CHECK(msg("[::1]443") == "destination '[::1]443': expected ':PORT' after ']'");
    CHECK(msg("[::/129]:1") == "destination '[::/129]:1': IPv6 prefix length must be 0..128");
    CHECK(msg("") == "destination '': empty");
    CHECK(msg("1.2.3.4:-1") == "destination '1.2.3.4:-1': '-1' is not a port (1..65535)");
}
