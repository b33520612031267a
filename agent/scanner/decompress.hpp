// Decompressors for the containers models hide in (joblib's zlib/gzip/bz2/xz/lzma files, zip
// deflate members), with an output cap so a decompression bomb fails closed instead of OOM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace mw::scanner {

enum class Compression : std::uint8_t { none, zlib, gzip, bzip2, xz, lzma_alone };

Compression detect_compression(std::span<const std::uint8_t> data);
std::string_view to_string(Compression c);

// Decompresses a whole stream; fails with a message if it is corrupt or larger than max_out.
Result<std::vector<std::uint8_t>> decompress(std::span<const std::uint8_t> data, Compression c, std::size_t max_out);

// Raw deflate (zip method 8).
Result<std::vector<std::uint8_t>> inflate_raw(std::span<const std::uint8_t> data, std::size_t max_out);

}  // namespace mw::scanner
