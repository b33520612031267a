// zlib / bzip2 / liblzma wrappers used by the container walker; every path caps its output.
#include "scanner/decompress.hpp"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>

#include <fmt/format.h>

namespace mw::scanner {
namespace {

constexpr std::size_t chunk = 1 << 20;

Result<std::vector<std::uint8_t>> run_zlib(std::span<const std::uint8_t> in, int window_bits, std::size_t max_out) {
    z_stream zs{};
    if (inflateInit2(&zs, window_bits) != Z_OK) return make_error("scanner: inflateInit2 failed");
    std::vector<std::uint8_t> out;
    std::size_t consumed = 0;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (zs.avail_in == 0 && consumed < in.size()) {
            auto n = std::min<std::size_t>(in.size() - consumed, 1u << 30);
            zs.next_in = const_cast<Bytef*>(in.data() + consumed);
            zs.avail_in = static_cast<uInt>(n);
            consumed += n;
        }
        if (out.size() >= max_out) { inflateEnd(&zs); return make_error(fmt::format("decompressed size exceeds the {} byte limit", max_out)); }
        auto old = out.size();
        out.resize(old + std::min(chunk, max_out - old));
        zs.next_out = out.data() + old;
        zs.avail_out = static_cast<uInt>(out.size() - old);
        rc = inflate(&zs, Z_NO_FLUSH);
        out.resize(out.size() - zs.avail_out);
        if (rc == Z_BUF_ERROR && zs.avail_in == 0 && consumed == in.size()) { inflateEnd(&zs); return make_error("truncated compressed stream"); }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            std::string msg = zs.msg ? zs.msg : "corrupt stream";
            inflateEnd(&zs);
            return make_error(fmt::format("inflate failed: {}", msg));
        }
    }
    inflateEnd(&zs);
    return out;
}

Result<std::vector<std::uint8_t>> run_bzip2(std::span<const std::uint8_t> in, std::size_t max_out) {
    bz_stream bs{};
    if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) return make_error("scanner: BZ2_bzDecompressInit failed");
    std::vector<std::uint8_t> out;
    std::size_t consumed = 0;
    int rc = BZ_OK;
    while (rc != BZ_STREAM_END) {
        if (bs.avail_in == 0 && consumed < in.size()) {
            auto n = std::min<std::size_t>(in.size() - consumed, 1u << 30);
            bs.next_in = reinterpret_cast<char*>(const_cast<std::uint8_t*>(in.data() + consumed));
            bs.avail_in = static_cast<unsigned>(n);
            consumed += n;
        }
        if (out.size() >= max_out) { BZ2_bzDecompressEnd(&bs); return make_error(fmt::format("decompressed size exceeds the {} byte limit", max_out)); }
        auto old = out.size();
        out.resize(old + std::min(chunk, max_out - old));
        bs.next_out = reinterpret_cast<char*>(out.data() + old);
        bs.avail_out = static_cast<unsigned>(out.size() - old);
        rc = BZ2_bzDecompress(&bs);
        out.resize(out.size() - bs.avail_out);
        if (rc != BZ_OK && rc != BZ_STREAM_END) { BZ2_bzDecompressEnd(&bs); return make_error(fmt::format("bzip2 decompression failed ({})", rc)); }
        if (rc == BZ_OK && bs.avail_in == 0 && consumed == in.size() && bs.avail_out != 0) { BZ2_bzDecompressEnd(&bs); return make_error("truncated bzip2 stream"); }
    }
    BZ2_bzDecompressEnd(&bs);
    return out;
}

Result<std::vector<std::uint8_t>> run_lzma(std::span<const std::uint8_t> in, bool alone, std::size_t max_out) {
    lzma_stream ls = LZMA_STREAM_INIT;
    auto init = alone ? lzma_alone_decoder(&ls, UINT64_MAX) : lzma_stream_decoder(&ls, UINT64_MAX, LZMA_CONCATENATED);
    if (init != LZMA_OK) return make_error("scanner: lzma decoder init failed");
    std::vector<std::uint8_t> out;
    ls.next_in = in.data();
    ls.avail_in = in.size();
    lzma_ret rc = LZMA_OK;
    while (rc != LZMA_STREAM_END) {
        if (out.size() >= max_out) { lzma_end(&ls); return make_error(fmt::format("decompressed size exceeds the {} byte limit", max_out)); }
        auto old = out.size();
        out.resize(old + std::min(chunk, max_out - old));
        ls.next_out = out.data() + old;
        ls.avail_out = out.size() - old;
        rc = lzma_code(&ls, ls.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
        out.resize(out.size() - ls.avail_out);
        if (rc != LZMA_OK && rc != LZMA_STREAM_END) { lzma_end(&ls); return make_error(fmt::format("lzma decompression failed ({})", static_cast<int>(rc))); }
    }
    lzma_end(&ls);
    return out;
}

}  // namespace

Compression detect_compression(std::span<const std::uint8_t> d) {
    if (d.size() >= 2 && d[0] == 0x1f && d[1] == 0x8b) return Compression::gzip;
    if (d.size() >= 3 && d[0] == 'B' && d[1] == 'Z' && d[2] == 'h') return Compression::bzip2;
    if (d.size() >= 6 && d[0] == 0xFD && d[1] == '7' && d[2] == 'z' && d[3] == 'X' && d[4] == 'Z' && d[5] == 0) return Compression::xz;
    // zlib header: CMF 0x78, FCHECK makes the 16-bit header a multiple of 31.
    if (d.size() >= 2 && d[0] == 0x78 && ((d[0] << 8) | d[1]) % 31 == 0) return Compression::zlib;
    // .lzma "alone": properties byte 0x5D and a dictionary size that is a power of two.
    if (d.size() >= 13 && d[0] == 0x5D && d[1] == 0 && d[2] == 0 && (d[3] | d[4]) != 0) return Compression::lzma_alone;
    return Compression::none;
}

std::string_view to_string(Compression c) {
    switch (c) {
        case Compression::none: return "none";
        case Compression::zlib: return "zlib";
        case Compression::gzip: return "gzip";
        case Compression::bzip2: return "bzip2";
        case Compression::xz: return "xz";
        case Compression::lzma_alone: return "lzma";
    }
    return "unknown";
}

Result<std::vector<std::uint8_t>> decompress(std::span<const std::uint8_t> data, Compression c, std::size_t max_out) {
    switch (c) {
        case Compression::zlib: return run_zlib(data, 15, max_out);
        case Compression::gzip: return run_zlib(data, 15 + 16, max_out);
        case Compression::bzip2: return run_bzip2(data, max_out);
        case Compression::xz: return run_lzma(data, false, max_out);
        case Compression::lzma_alone: return run_lzma(data, true, max_out);
        case Compression::none: break;
    }
    return std::vector<std::uint8_t>(data.begin(), data.end());
}

Result<std::vector<std::uint8_t>> inflate_raw(std::span<const std::uint8_t> data, std::size_t max_out) {
    return run_zlib(data, -15, max_out);
}

}  // namespace mw::scanner
