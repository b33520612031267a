// Zip parsing with zip64 support. Every offset is bounds-checked against the buffer: the
// archive is hostile input.
#include "scanner/zip_reader.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <zlib.h>

#include "scanner/decompress.hpp"

namespace mw::scanner {
namespace {

std::uint64_t rd(std::span<const std::uint8_t> d, std::uint64_t off, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t{d[off + i]} << (8 * i);
    return v;
}

bool fits(std::span<const std::uint8_t> d, std::uint64_t off, std::uint64_t n) { return off <= d.size() && n <= d.size() - off; }

std::int64_t find_eocd(std::span<const std::uint8_t> d) {
    if (d.size() < 22) return -1;
    std::uint64_t lowest = d.size() > 22 + 65535 ? d.size() - 22 - 65535 : 0;
    for (std::uint64_t i = d.size() - 22 + 1; i-- > lowest;) {
        if (d[i] == 'P' && d[i + 1] == 'K' && d[i + 2] == 5 && d[i + 3] == 6) return static_cast<std::int64_t>(i);
    }
    return -1;
}

}  // namespace

bool has_zip_signature(std::span<const std::uint8_t> data) { return find_eocd(data) >= 0; }

Result<ZipArchive> read_zip(std::span<const std::uint8_t> d) {
    auto eocd_pos = find_eocd(d);
    if (eocd_pos < 0) return make_error("no zip end-of-central-directory record");
    auto eocd = static_cast<std::uint64_t>(eocd_pos);
    ZipArchive zip;
    std::uint64_t count = rd(d, eocd + 10, 2);
    std::uint64_t cd_size = rd(d, eocd + 12, 4);
    std::uint64_t cd_off = rd(d, eocd + 16, 4);
    std::uint64_t comment_len = rd(d, eocd + 20, 2);
    if (eocd + 22 + comment_len != d.size())
        zip.anomalies.push_back({eocd, "", fmt::format("{} bytes after the end-of-central-directory record", d.size() - eocd - 22 - std::min<std::uint64_t>(comment_len, d.size() - eocd - 22))});
    std::uint64_t cd_end_expected = eocd;
    // zip64 locator sits right before the EOCD.
    if (eocd >= 20 && rd(d, eocd - 20, 4) == 0x07064b50) {
        std::uint64_t z64 = rd(d, eocd - 20 + 8, 8);
        if (fits(d, z64, 56) && rd(d, z64, 4) == 0x06064b50) {
            count = rd(d, z64 + 32, 8);
            cd_size = rd(d, z64 + 40, 8);
            cd_off = rd(d, z64 + 48, 8);
            cd_end_expected = z64;
        } else {
            zip.anomalies.push_back({eocd - 20, "", "zip64 locator points outside the file"});
        }
    }
    if (!fits(d, cd_off, cd_size)) return make_error(fmt::format("central directory at {} (+{}) lies outside the file", cd_off, cd_size));
    if (cd_off + cd_size != cd_end_expected)
        zip.anomalies.push_back({cd_off + cd_size, "", "data between the central directory and its end record"});

    std::map<std::string, int> seen;
    std::uint64_t p = cd_off;
    std::uint64_t min_local = d.size();
    std::vector<std::pair<std::uint64_t, std::uint64_t>> extents;
    for (std::uint64_t i = 0; i < count; ++i) {
        if (!fits(d, p, 46) || rd(d, p, 4) != 0x02014b50) {
            zip.anomalies.push_back({p, "", "central directory entry is truncated or corrupt"});
            break;
        }
        ZipEntry e;
        e.flags = static_cast<std::uint16_t>(rd(d, p + 8, 2));
        e.method = static_cast<std::uint16_t>(rd(d, p + 10, 2));
        e.crc32 = static_cast<std::uint32_t>(rd(d, p + 16, 4));
        e.compressed_size = rd(d, p + 20, 4);
        e.uncompressed_size = rd(d, p + 24, 4);
        auto name_len = rd(d, p + 28, 2), extra_len = rd(d, p + 30, 2), comment = rd(d, p + 32, 2);
        e.local_header_offset = rd(d, p + 42, 4);
        if (!fits(d, p + 46, name_len + extra_len + comment)) {
            zip.anomalies.push_back({p, "", "central directory entry is truncated"});
            break;
        }
        e.name.assign(reinterpret_cast<const char*>(d.data() + p + 46), name_len);
        // zip64 extra field: present values replace the 0xFFFFFFFF placeholders in order.
        for (std::uint64_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
            auto id = rd(d, x, 2), len = rd(d, x + 2, 2);
            if (x + 4 + len > p + 46 + name_len + extra_len) break;
            if (id == 1) {
                std::uint64_t q = x + 4, qend = x + 4 + len;
                if (e.uncompressed_size == 0xFFFFFFFF && q + 8 <= qend) { e.uncompressed_size = rd(d, q, 8); q += 8; }
                if (e.compressed_size == 0xFFFFFFFF && q + 8 <= qend) { e.compressed_size = rd(d, q, 8); q += 8; }
                if (e.local_header_offset == 0xFFFFFFFF && q + 8 <= qend) { e.local_header_offset = rd(d, q, 8); q += 8; }
            }
            x += 4 + len;
        }
        p += 46 + name_len + extra_len + comment;

        if (++seen[e.name] == 2) zip.anomalies.push_back({e.local_header_offset, e.name, "duplicate member name (loaders disagree on which copy wins)"});
        if (e.flags & 1) zip.anomalies.push_back({e.local_header_offset, e.name, "encrypted member cannot be scanned"});
        if (e.flags & ~std::uint16_t{(1u << 1) | (1u << 2) | (1u << 3) | (1u << 11)})
            zip.anomalies.push_back({e.local_header_offset, e.name, fmt::format("unusual general-purpose flag bits 0x{:04x}", e.flags)});
        if (e.method != 0 && e.method != 8)
            zip.anomalies.push_back({e.local_header_offset, e.name, fmt::format("unsupported compression method {}", e.method)});
        if (!fits(d, e.local_header_offset, 30) || rd(d, e.local_header_offset, 4) != 0x04034b50) {
            zip.anomalies.push_back({e.local_header_offset, e.name, "local header missing or corrupt"});
            continue;
        }
        auto lname_len = rd(d, e.local_header_offset + 26, 2), lextra = rd(d, e.local_header_offset + 28, 2);
        if (!fits(d, e.local_header_offset + 30, lname_len + lextra)) {
            zip.anomalies.push_back({e.local_header_offset, e.name, "local header truncated"});
            continue;
        }
        e.local_name.assign(reinterpret_cast<const char*>(d.data() + e.local_header_offset + 30), lname_len);
        if (e.local_name != e.name)
            zip.anomalies.push_back({e.local_header_offset, e.name, fmt::format("local header names the member '{}' but the central directory says '{}'", e.local_name, e.name)});
        if (rd(d, e.local_header_offset + 8, 2) != e.method)
            zip.anomalies.push_back({e.local_header_offset, e.name, "local and central compression methods differ"});
        e.data_offset = e.local_header_offset + 30 + lname_len + lextra;
        if (!fits(d, e.data_offset, e.compressed_size)) {
            zip.anomalies.push_back({e.local_header_offset, e.name, "member data extends past the end of the file"});
            continue;
        }
        min_local = std::min(min_local, e.local_header_offset);
        extents.emplace_back(e.local_header_offset, e.data_offset + e.compressed_size);
        zip.entries.push_back(std::move(e));
    }
    zip.first_local_header = zip.entries.empty() ? cd_off : min_local;
    std::sort(extents.begin(), extents.end());
    for (std::size_t i = 1; i < extents.size(); ++i)
        if (extents[i].first < extents[i - 1].second)
            zip.anomalies.push_back({extents[i].first, "", "overlapping zip members"});
    return zip;
}

Result<ZipMember> extract_member(std::span<const std::uint8_t> d, const ZipEntry& e, std::size_t max_out, bool check_crc) {
    ZipMember m;
    auto raw = d.subspan(e.data_offset, e.compressed_size);
    if (e.method == 0) {
        m.bytes = raw;
    } else if (e.method == 8) {
        auto out = inflate_raw(raw, max_out);
        if (!out) return out.error();
        m.owned = std::move(out.value());
        m.bytes = m.owned;
    } else {
        return make_error(fmt::format("compression method {} is not supported", e.method));
    }
    if (m.bytes.size() != e.uncompressed_size) {
        m.anomaly = fmt::format("member is {} bytes but the directory declares {}", m.bytes.size(), e.uncompressed_size);
    } else if (check_crc) {
        // zlib's crc32 takes uInt lengths: feed large members in pieces.
        uLong crc = crc32(0, nullptr, 0);
        for (std::size_t off = 0; off < m.bytes.size(); off += (1u << 30))
            crc = crc32(crc, m.bytes.data() + off, static_cast<uInt>(std::min<std::size_t>(m.bytes.size() - off, 1u << 30)));
        if (crc != e.crc32) m.anomaly = fmt::format("CRC mismatch: computed {:08x}, declared {:08x}", crc, e.crc32);
    }
    return m;
}

}  // namespace mw::scanner
