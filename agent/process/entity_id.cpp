// entity_id derivation: SHA-256 over the host/boot key, pid and start time in /proc ticks.
#include "process/entity_id.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <fstream>

namespace mw {
namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (in) std::getline(in, line);
    return line;
}

}  // namespace

std::string read_host_boot_key(std::string_view root) {
    std::string r(root);
    if (!r.empty() && r.back() != '/') r.push_back('/');
    return first_line(r + "etc/machine-id") + ":" + first_line(r + "proc/sys/kernel/random/boot_id");
}

std::uint64_t proc_tick_ns() {
    long hz = ::sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    return 1'000'000'000ull / static_cast<std::uint64_t>(hz);
}

EntityIdGenerator::EntityIdGenerator(std::string host_boot_key)
    : key_(std::move(host_boot_key)), tick_ns_(proc_tick_ns()) {}

std::string EntityIdGenerator::make(std::uint32_t pid, std::uint64_t start_time_ns) const {
    std::uint64_t tick = start_time_ns / tick_ns_;
    std::array<unsigned char, 12> ident{};
    for (int i = 0; i < 4; ++i) ident[i] = static_cast<unsigned char>(pid >> (8 * i));
    for (int i = 0; i < 8; ++i) ident[4 + i] = static_cast<unsigned char>(tick >> (8 * i));

    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int md_len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return {};
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, key_.data(), key_.size());
    EVP_DigestUpdate(ctx, ident.data(), ident.size());
    EVP_DigestFinal_ex(ctx, md.data(), &md_len);
    EVP_MD_CTX_free(ctx);

    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve(22);
    // 16 bytes = 5 full 3-byte groups + 1 trailing byte.
    std::size_t i = 0;
    for (; i + 3 <= 16; i += 3) {
        std::uint32_t v = (md[i] << 16) | (md[i + 1] << 8) | md[i + 2];
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        out.push_back(alphabet[v & 63]);
    }
    std::uint32_t v = md[i] << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    return out;
}

}  // namespace mw
