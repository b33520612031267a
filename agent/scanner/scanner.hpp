// Model-artifact scanner entry points: choose the container by content (never by extension),
// walk every pickle in it, validate safetensors/GGUF/npy headers, and hash while scanning.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.hpp"
#include "scanner/findings.hpp"

namespace mw::scanner {

struct ScanOptions {
    std::size_t max_decompressed = std::size_t{4} << 30;  // per member; larger fails closed
    int max_depth = 6;                                   // nested archives / compression layers
    // Set by the runtime gate at shutdown so a multi-GB first-open verification stops reading
    // instead of holding the daemon's exit; a cancelled scan returns an error (never approval).
    const std::atomic<bool>* cancel = nullptr;
};

// Scans bytes already in memory; `path` only labels the report.
ScanReport scan_bytes(std::span<const std::uint8_t> data, std::string path, const ScanOptions& opts = {});

using Sha256 = std::array<std::uint8_t, 32>;
std::string to_hex(const Sha256& d);

struct HashedScan {
    ScanReport report;
    Sha256 sha256{};
    std::uint64_t size = 0;
};

// Reads the file once into memory, then hashes (worker thread) and scans (this thread) the same
// bytes concurrently, so the digest a manifest is checked against is over exactly what was scanned.
Result<HashedScan> scan_and_hash_fd(int fd, std::string path, const ScanOptions& opts = {});
Result<HashedScan> scan_and_hash_file(const std::string& path, const ScanOptions& opts = {});

// SHA-256 of a buffer via OpenSSL EVP.
Sha256 sha256(std::span<const std::uint8_t> data);

}  // namespace mw::scanner
