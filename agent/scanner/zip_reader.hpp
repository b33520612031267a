// Defensive zip reader for model containers (PyTorch checkpoints, TorchScript, .npz): walks the
// central directory, cross-checks local headers, and reports every trick instead of trusting it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace mw::scanner {

struct ZipEntry {
    std::string name;        // central directory name
    std::string local_name;  // local header name (loaders differ in which one they trust)
    std::uint16_t method = 0;
    std::uint16_t flags = 0;
    std::uint32_t crc32 = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t uncompressed_size = 0;
    std::uint64_t local_header_offset = 0;
    std::uint64_t data_offset = 0;  // start of the member's bytes in the archive
};

struct ZipAnomaly {
    std::uint64_t offset = 0;
    std::string member;
    std::string message;
};

struct ZipArchive {
    std::vector<ZipEntry> entries;
    std::vector<ZipAnomaly> anomalies;  // name mismatch, duplicates, odd flags, appended data, ...
    std::uint64_t first_local_header = 0;
};

// Whether the buffer has a zip end-of-central-directory record (zip content anywhere).
bool has_zip_signature(std::span<const std::uint8_t> data);

// Fails only when no central directory can be found at all; everything else is an anomaly.
Result<ZipArchive> read_zip(std::span<const std::uint8_t> data);

// Returns the member's uncompressed bytes (stored or deflate), checking size and CRC.
// A CRC or size mismatch is returned as `anomaly` but the bytes are still returned for scanning.
struct ZipMember {
    std::vector<std::uint8_t> owned;      // filled for deflate
    std::span<const std::uint8_t> bytes;  // view of the data (into `owned` or the archive)
    std::string anomaly;
};
// check_crc=false skips the CRC for raw tensor storage that no loader ever interprets.
Result<ZipMember> extract_member(std::span<const std::uint8_t> data, const ZipEntry& e, std::size_t max_out, bool check_crc = true);

}  // namespace mw::scanner
