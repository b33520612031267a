// Unit tests for the container walker: zip tricks, compression, npy/safetensors/GGUF headers.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <zlib.h>

#include "scanner/decompress.hpp"
#include "scanner/scanner.hpp"
#include "scanner/zip_reader.hpp"

using namespace mw::scanner;

namespace {
std::span<const std::uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

void put(std::string& s, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

struct Member {
    std::string central_name, local_name, data;
    std::uint16_t flags = 0;
    bool bad_crc = false;
};

// A stored-only zip writer that can lie in the ways attackers do.
std::string make_zip(const std::vector<Member>& ms, const std::string& trailer = {}) {
    std::string out, cd;
    for (const auto& m : ms) {
        auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size())));
        if (m.bad_crc) crc ^= 0xffffffffu;
        auto off = out.size();
        put(out, 0x04034b50, 4); put(out, 20, 2); put(out, m.flags, 2); put(out, 0, 2); put(out, 0, 4);
        put(out, crc, 4); put(out, m.data.size(), 4); put(out, m.data.size(), 4);
        put(out, m.local_name.size(), 2); put(out, 0, 2);
        out += m.local_name + m.data;
        put(cd, 0x02014b50, 4); put(cd, 20, 2); put(cd, 20, 2); put(cd, m.flags, 2); put(cd, 0, 2); put(cd, 0, 4);
        put(cd, crc, 4); put(cd, m.data.size(), 4); put(cd, m.data.size(), 4);
        put(cd, m.central_name.size(), 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 4);
        put(cd, off, 4);
        cd += m.central_name;
    }
    auto cd_off = out.size();
    out += cd;
    put(out, 0x06054b50, 4); put(out, 0, 2); put(out, 0, 2); put(out, ms.size(), 2); put(out, ms.size(), 2);
    put(out, cd.size(), 4); put(out, cd_off, 4); put(out, 0, 2);
    return out + trailer;
}

const std::string evil = std::string("\x80\x02" "cposix\nsystem\n" ")R.");
const std::string fine = std::string("\x80\x02}.");

bool has(const ScanReport& r, std::string_view kind, std::string_view text) {
    for (const auto& f : r.findings)
        if (f.kind == kind && f.message.find(text) != std::string::npos) return true;
    return false;
}
}  // namespace

TEST_CASE("a pickle in any zip member is found, whatever its name", "[zip]") {
    auto z = make_zip({{"m/data.pkl", "m/data.pkl", fine}, {"m/extra/notes.txt", "m/extra/notes.txt", evil}});
    auto r = scan_bytes(bytes(z), "z");
    CHECK(r.format == "zip");
    CHECK(r.verdict() == Verdict::dangerous);
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].member == "m/extra/notes.txt");
    CHECK(r.findings[0].global == "posix.system");
    CHECK(r.findings[0].offset == 2);
}

TEST_CASE("zip header tricks are each reported", "[zip]") {
    SECTION("local and central names differ") {
        auto r = scan_bytes(bytes(make_zip({{"a/data.pkl", "a/data.pxl", fine}})), "z");
        CHECK(has(r, "container", "local header names the member 'a/data.pxl'"));
    }
    SECTION("bad CRC") {
        auto r = scan_bytes(bytes(make_zip({{"a/data.pkl", "a/data.pkl", fine, 0, true}})), "z");
        CHECK(has(r, "container", "CRC mismatch"));
    }
    SECTION("odd flag bits") {
        auto r = scan_bytes(bytes(make_zip({{"a/data.pkl", "a/data.pkl", fine, 0x10}})), "z");
        CHECK(has(r, "container", "unusual general-purpose flag bits 0x0010"));
    }
    SECTION("duplicate names: both copies are scanned") {
        auto r = scan_bytes(bytes(make_zip({{"a/data.pkl", "a/data.pkl", evil}, {"a/data.pkl", "a/data.pkl", fine}})), "z");
        CHECK(has(r, "container", "duplicate member name"));
        CHECK(r.has_global("posix.system"));
    }
    SECTION("data appended after the archive") {
        auto r = scan_bytes(bytes(make_zip({{"a/data.pkl", "a/data.pkl", fine}}, "tail")), "z");
        CHECK(has(r, "container", "4 bytes after the end-of-central-directory record"));
    }
    SECTION("a pickle before the archive runs under torch.load: scanned") {
        auto r = scan_bytes(bytes(evil + make_zip({{"a/data.pkl", "a/data.pkl", fine}})), "z");
        CHECK(r.verdict() == Verdict::dangerous);
        CHECK(r.has_global("posix.system"));
        CHECK(has(r, "container", "polyglot"));
    }
    SECTION("clean archive has no findings") {
        auto r = scan_bytes(bytes(make_zip({{"a/data.pkl", "a/data.pkl", fine}})), "z");
        CHECK(r.findings.empty());
    }
}

TEST_CASE("compressed pickles are decompressed and scanned, bombs fail closed", "[compress]") {
    std::string packed(compressBound(static_cast<uLong>(evil.size())), '\0');
    uLongf len = packed.size();
    REQUIRE(compress(reinterpret_cast<Bytef*>(packed.data()), &len, reinterpret_cast<const Bytef*>(evil.data()), static_cast<uLong>(evil.size())) == Z_OK);
    packed.resize(len);
    CHECK(detect_compression(bytes(packed)) == Compression::zlib);
    auto r = scan_bytes(bytes(packed), "c");
    CHECK(r.format == "zlib-compressed");
    CHECK(r.verdict() == Verdict::dangerous);
    CHECK(r.findings[0].member == "!zlib");

    std::string zeros(1 << 20, '\0');
    std::string bomb(compressBound(static_cast<uLong>(zeros.size())), '\0');
    uLongf blen = bomb.size();
    REQUIRE(compress(reinterpret_cast<Bytef*>(bomb.data()), &blen, reinterpret_cast<const Bytef*>(zeros.data()), static_cast<uLong>(zeros.size())) == Z_OK);
    bomb.resize(blen);
    auto out = decompress(bytes(bomb), Compression::zlib, 1000);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error().message == "decompressed size exceeds the 1000 byte limit");
    ScanOptions small;
    small.max_decompressed = 1000;
    auto br = scan_bytes(bytes(bomb), "b", small);
    CHECK(br.verdict() == Verdict::suspicious);
}

TEST_CASE("npy headers: object dtype is scanned as a pickle, size mismatches flagged", "[npy]") {
    auto npy = [](const std::string& header, const std::string& data) {
        std::string h = header;
        while ((10 + h.size() + 1) % 64) h += ' ';
        h += '\n';
        std::string out = "\x93NUMPY\x01";
        out += '\0';
        put(out, h.size(), 2);
        return out + h + data;
    };
    auto ok = scan_bytes(bytes(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'))), "n");
    CHECK(ok.format == "npy");
    CHECK(ok.findings.empty());
    auto short_data = scan_bytes(bytes(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", std::string(8, '\0'))), "n");
    CHECK(has(short_data, "malformed", "npy data is 8 bytes but the header declares 12"));
    auto obj = scan_bytes(bytes(npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", evil)), "n");
    CHECK(obj.verdict() == Verdict::dangerous);
    CHECK(obj.has_global("posix.system"));
    CHECK(has(obj, "npy-object", "object-dtype array"));
}

TEST_CASE("safetensors offsets and GGUF headers are validated", "[safetensors][gguf]") {
    auto st = [](const std::string& json, std::size_t body) {
        std::string out;
        put(out, json.size(), 8);
        return out + json + std::string(body, '\0');
    };
    auto good = scan_bytes(bytes(st(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 24)), "s");
    CHECK(good.format == "safetensors");
    CHECK(good.findings.empty());
    auto outside = scan_bytes(bytes(st(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 20)), "s");
    CHECK(has(outside, "malformed", "data_offsets outside the file"));
    auto mismatch = scan_bytes(bytes(st(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,24]}})", 24)), "s");
    CHECK(has(mismatch, "malformed", "size does not match shape and dtype"));

    std::string g = "GGUF";
    put(g, 3, 4); put(g, 1, 8); put(g, 0, 8);
    put(g, 1, 8); g += "t"; put(g, 1, 4); put(g, 4, 8); put(g, 0, 4); put(g, 64, 8);
    while (g.size() % 32) g += '\0';
    auto gg = scan_bytes(bytes(g + std::string(16, '\0')), "g");
    CHECK(gg.format == "gguf");
    CHECK(has(gg, "malformed", "gguf: tensor offset 64 lies outside the data section"));
}
