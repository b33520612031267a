// Reads os-release, machine-id, boot_id and uname once; derives the agent id.
#include "output/host_info.hpp"

#include <openssl/evp.h>
#include <sys/utsname.h>
#include <time.h>

#include <array>
#include <fstream>

#include <fmt/format.h>

namespace mw {
namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (in) std::getline(in, line);
    return line;
}

std::string unquote(std::string v) {
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
    return v;
}

std::int64_t now_ns(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

HostInfo gather_host_info(std::string_view root_view) {
    std::string root(root_view);
    if (root.empty() || root.back() != '/') root.push_back('/');
    HostInfo h;
    utsname u{};
    if (::uname(&u) == 0) {
        h.hostname = u.nodename;
        h.architecture = u.machine;
        h.os_kernel = u.release;
    }
    h.name = h.hostname;
    h.id = first_line(root + "etc/machine-id");
    h.boot_id = first_line(root + "proc/sys/kernel/random/boot_id");

    std::ifstream rel(root + "etc/os-release");
    std::string line, id_like;
    while (std::getline(rel, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = line.substr(0, eq), val = unquote(line.substr(eq + 1));
        if (key == "NAME") h.os_name = val;
        else if (key == "VERSION_ID") h.os_version = val;
        else if (key == "PRETTY_NAME") h.os_full = val;
        else if (key == "ID") h.os_platform = val;
        else if (key == "ID_LIKE") id_like = val;
    }
    h.os_family = id_like.empty() ? h.os_platform : id_like.substr(0, id_like.find(' '));

    // Sample both clocks back to back; the smallest gap bounds the error.
    std::int64_t best = 0, best_gap = INT64_MAX;
    for (int i = 0; i < 5; ++i) {
        std::int64_t r1 = now_ns(CLOCK_REALTIME), b = now_ns(CLOCK_BOOTTIME), r2 = now_ns(CLOCK_REALTIME);
        if (r2 - r1 < best_gap) {
            best_gap = r2 - r1;
            best = r1 + (r2 - r1) / 2 - b;
        }
    }
    h.boot_to_realtime_ns = best;
    return h;
}

AgentInfo make_agent_info(const HostInfo& host, std::string_view version) {
    AgentInfo a;
    a.version = std::string(version);
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    std::string seed = "modelwarden-agent:" + host.id + ":" + host.hostname;
    EVP_Digest(seed.data(), seed.size(), md.data(), &len, EVP_sha256(), nullptr);
    // UUID-shaped (version 5 style bits) so SIEM tooling that expects a UUID accepts it.
    md[6] = static_cast<unsigned char>((md[6] & 0x0F) | 0x50);
    md[8] = static_cast<unsigned char>((md[8] & 0x3F) | 0x80);
    a.id = fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
                       md[12], md[13], md[14], md[15]);
    return a;
}

}  // namespace mw
