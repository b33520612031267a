// Content-driven walk over model files: zip checkpoints, legacy torch streams, raw and
// compressed pickles, npy/npz, safetensors and GGUF. Every anomaly becomes a finding.
#include "scanner/scanner.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "scanner/decompress.hpp"
#include "scanner/global_policy.hpp"
#include "scanner/pickle_vm.hpp"
#include "scanner/zip_reader.hpp"

namespace mw::scanner {

std::string_view to_string(Severity s) {
    switch (s) {
        case Severity::info: return "info";
        case Severity::suspicious: return "suspicious";
        case Severity::dangerous: return "dangerous";
    }
    return "unknown";
}

std::string_view to_string(Verdict v) {
    switch (v) {
        case Verdict::clean: return "clean";
        case Verdict::suspicious: return "suspicious";
        case Verdict::dangerous: return "dangerous";
        case Verdict::error: return "error";
    }
    return "unknown";
}

Verdict ScanReport::verdict() const {
    if (!error.empty()) return Verdict::error;
    auto v = Verdict::clean;
    for (const auto& f : findings) {
        if (f.severity == Severity::dangerous) return Verdict::dangerous;
        if (f.severity == Severity::suspicious) v = Verdict::suspicious;
    }
    return v;
}

bool ScanReport::has_global(std::string_view dotted) const {
    return std::any_of(findings.begin(), findings.end(), [&](const Finding& f) { return f.global == dotted; });
}

namespace {

// torch.serialization.MAGIC_NUMBER = 0x1950a86a20f9469cfc6c, pickled with any protocol.
constexpr std::string_view torch_legacy_magic_le("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr std::string_view torch_legacy_magic_dec = "119547037146038801333356";

bool is_torch_legacy(std::span<const std::uint8_t> d) {
    auto a = analyse_pickle(d.subspan(0, std::min<std::size_t>(d.size(), 64)));
    return a.stopped && (a.result_int == torch_legacy_magic_le || a.result_int == torch_legacy_magic_dec);
}

bool starts_with(std::span<const std::uint8_t> d, std::string_view s) {
    return d.size() >= s.size() && std::memcmp(d.data(), s.data(), s.size()) == 0;
}

std::uint64_t le(std::span<const std::uint8_t> d, std::size_t off, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t{d[off + i]} << (8 * i);
    return v;
}

int torch_element_size(std::string_view storage_global) {
    static const std::pair<std::string_view, int> sizes[] = {
        {"torch.DoubleStorage", 8}, {"torch.FloatStorage", 4}, {"torch.HalfStorage", 2}, {"torch.LongStorage", 8},
        {"torch.IntStorage", 4}, {"torch.ShortStorage", 2}, {"torch.CharStorage", 1}, {"torch.ByteStorage", 1},
        {"torch.BoolStorage", 1}, {"torch.BFloat16Storage", 2}, {"torch.ComplexDoubleStorage", 16},
        {"torch.ComplexFloatStorage", 8}, {"torch.QUInt8Storage", 1}, {"torch.QInt8Storage", 1},
        {"torch.QInt32Storage", 4}, {"torch.QUInt4x2Storage", 1}, {"torch.QUInt2x4Storage", 1},
        {"torch.storage.UntypedStorage", 1}, {"torch.UntypedStorage", 1}};
    for (auto [n, s] : sizes)
        if (n == storage_global) return s;
    return 0;
}

class Walker {
public:
    Walker(ScanReport& r, const ScanOptions& o) : r_(r), o_(o) {}

    void scan(std::span<const std::uint8_t> d, const std::string& member, int depth, bool top);

private:
    ScanReport& r_;
    const ScanOptions& o_;

    void add(Severity s, std::string kind, const std::string& member, std::uint64_t off, std::string msg, std::string global = {}) {
        r_.findings.push_back({s, std::move(kind), member, off, std::move(global), std::move(msg)});
    }
    void set_format(bool top, std::string_view f) {
        if (top) r_.format = std::string(f);
    }
    // Returns the analysis of the last pickle; reports every pickle in sequence.
    std::vector<PickleAnalysis> pickles(std::span<const std::uint8_t> d, const std::string& member, std::size_t count_limit, bool trailing_is_finding, std::uint64_t base = 0, bool sequence_expected = false);
    void report(const PickleAnalysis& a, const std::string& member);
    void zip(std::span<const std::uint8_t> d, const std::string& member, int depth);
    void legacy(std::span<const std::uint8_t> d, const std::string& member);
    void npy(std::span<const std::uint8_t> d, const std::string& member);
    void safetensors(std::span<const std::uint8_t> d, const std::string& member);
    void gguf(std::span<const std::uint8_t> d, const std::string& member);
};

void Walker::report(const PickleAnalysis& a, const std::string& member) {
    for (const auto& g : a.globals) {
        if (g.dynamic) {
            bool ext = g.opcode == '\x82' || g.opcode == '\x83' || g.opcode == '\x84';
            add(Severity::dangerous, "global", member, g.offset,
                ext ? fmt::format("EXT opcode imports extension-registry code {}: the global cannot be known statically", g.name)
                    : fmt::format("STACK_GLOBAL operands are not literal strings ({} / {}): obfuscated import", g.module, g.name),
                ext ? fmt::format("<ext {}>", g.name) : std::string("<dynamic>"));
            continue;
        }
        auto c = classify_global(g.module, g.name);
        if (c.severity == Severity::info) continue;
        add(c.severity, "global", member, g.offset, fmt::format("imports {}: {}", c.dotted, c.reason), c.dotted);
    }
    for (const auto& c : a.calls) {
        if (c.opcode == 'b') {
            if (c.callee_is_global)
                add(Severity::dangerous, "build", member, c.offset, fmt::format("BUILD writes attributes of the module-level object {}", c.callee), c.callee);
            continue;
        }
        if (!c.callee_is_global)
            add(Severity::suspicious, "call", member, c.offset, fmt::format("calls {}, which is not a plain imported global", c.callee));
    }
    for (const auto& an : a.anomalies) add(Severity::suspicious, "malformed", member, an.offset, an.message);
}

std::vector<PickleAnalysis> Walker::pickles(std::span<const std::uint8_t> d, const std::string& member, std::size_t count_limit, bool trailing_is_finding, std::uint64_t base, bool sequence_expected) {
    std::vector<PickleAnalysis> out;
    std::size_t off = 0;
    while (off < d.size() && out.size() < count_limit) {
        // Finding offsets are absolute (base + off); `end` is relative to the sub-span.
        auto a = analyse_pickle(d.subspan(off), base + off);
        off += a.end;
        bool stopped = a.stopped;
        report(a, member);
        out.push_back(std::move(a));
        if (!stopped) return out;
        if (off < d.size() && out.size() < count_limit) {
            auto rest = d.subspan(off);
            if (sequence_expected) continue;
            if (looks_like_pickle(rest)) {
                add(Severity::suspicious, "appended", member, base + off, "another pickle follows STOP (loaders that read pickles in sequence run it)");
                continue;
            }
            if (trailing_is_finding) add(Severity::suspicious, "appended", member, base + off, fmt::format("{} bytes after the pickle's STOP opcode", rest.size()));
            return out;
        }
    }
    return out;
}

void Walker::legacy(std::span<const std::uint8_t> d, const std::string& member) {
    // magic, protocol version, sys info, the object, the storage keys; then raw storages.
    auto ps = pickles(d, member, 5, false, 0, true);
    if (ps.size() < 5 || !ps.back().stopped) {
        if (ps.size() < 5 && ps.back().stopped) add(Severity::suspicious, "malformed", member, 0, "legacy torch file has fewer than 5 pickles");
        return;
    }
    // `end` of each pickle is relative to its own start.
    std::size_t off = 0;
    for (std::size_t i = 0; i < ps.size(); ++i) off += ps[i].end;
    const auto& refs = ps[3].persistent_refs;
    for (const auto& key : ps[4].top_strings) {
        auto it = std::find_if(refs.begin(), refs.end(), [&](const PersistentRef& r) { return r.key == key; });
        int esize = it == refs.end() ? 0 : torch_element_size(it->type_global);
        if (esize == 0) {
            add(Severity::suspicious, "malformed", member, off, fmt::format("storage '{}' has no known element type", key));
            return;
        }
        if (d.size() - off < 8) {
            add(Severity::suspicious, "malformed", member, off, "legacy torch file truncated in storage data");
            return;
        }
        auto numel = le(d, off, 8);
        if (numel > (d.size() - off - 8) / static_cast<std::uint64_t>(esize)) {
            add(Severity::suspicious, "malformed", member, off, fmt::format("storage '{}' declares more data than the file holds", key));
            return;
        }
        off += 8 + numel * static_cast<std::uint64_t>(esize);
    }
    if (off != d.size()) {
        auto rest = d.subspan(off);
        add(Severity::suspicious, "appended", member, off, fmt::format("{} bytes after the last legacy storage", rest.size()));
        if (looks_like_pickle(rest)) pickles(rest, member, 64, true, off);
    }
}

void Walker::npy(std::span<const std::uint8_t> d, const std::string& member) {
    if (d.size() < 10) { add(Severity::suspicious, "malformed", member, 0, "truncated npy header"); return; }
    int major = d[6];
    std::size_t hl_size = major == 1 ? 2 : 4;
    if (major < 1 || major > 3 || d.size() < 8 + hl_size) { add(Severity::suspicious, "malformed", member, 6, fmt::format("unsupported npy version {}", major)); return; }
    auto hlen = le(d, 8, static_cast<int>(hl_size));
    std::size_t data_off = 8 + hl_size + hlen;
    if (hlen > d.size() - 8 - hl_size) { add(Severity::suspicious, "malformed", member, 8, "npy header length exceeds the file"); return; }
    std::string header(reinterpret_cast<const char*>(d.data() + 8 + hl_size), hlen);
    auto descr_pos = header.find("'descr':");
    if (descr_pos == std::string::npos) { add(Severity::suspicious, "malformed", member, 8, "npy header has no descr"); return; }
    auto after = header.substr(descr_pos + 8);
    auto shape_pos = header.find("'shape':");
    bool structured = after.find_first_not_of(' ') != std::string::npos && after[after.find_first_not_of(' ')] == '[';
    bool object = false;
    std::string descr;
    if (!structured) {
        auto q1 = after.find('\'');
        auto q2 = q1 == std::string::npos ? q1 : after.find('\'', q1 + 1);
        if (q2 == std::string::npos) { add(Severity::suspicious, "malformed", member, 8, "npy descr is not a string"); return; }
        descr = after.substr(q1 + 1, q2 - q1 - 1);
        object = descr.find('O') != std::string::npos;
    } else {
        auto end = after.find(']');
        object = after.substr(0, end).find("'O") != std::string::npos || after.substr(0, end).find("|O") != std::string::npos;
    }
    if (object) {
        add(Severity::suspicious, "npy-object", member, 8, "object-dtype array: numpy.load(allow_pickle=True) unpickles its data");
        pickles(d.subspan(data_off), member, 64, true, data_off);
        return;
    }
    if (structured || shape_pos == std::string::npos) return;
    auto open = header.find('(', shape_pos), close = header.find(')', shape_pos);
    if (open == std::string::npos || close == std::string::npos || close < open) { add(Severity::suspicious, "malformed", member, 8, "npy shape is not a tuple"); return; }
    std::uint64_t count = 1;
    bool overflow = false;
    std::string shape = header.substr(open + 1, close - open - 1);
    for (std::size_t p = 0; p < shape.size();) {
        while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
        if (p >= shape.size()) break;
        std::uint64_t dim = 0;
        bool digit = false;
        while (p < shape.size() && shape[p] >= '0' && shape[p] <= '9') { dim = dim * 10 + static_cast<std::uint64_t>(shape[p] - '0'); ++p; digit = true; if (dim > (1ull << 50)) break; }
        if (!digit) { add(Severity::suspicious, "malformed", member, 8, "npy shape has a non-numeric dimension"); return; }
        overflow = overflow || __builtin_mul_overflow(count, dim, &count);
    }
    // itemsize: the digits after the type letter; unicode counts 4 bytes per character.
    std::size_t i = 0;
    while (i < descr.size() && !(descr[i] >= '0' && descr[i] <= '9')) ++i;
    std::uint64_t item = 0;
    while (i < descr.size() && descr[i] >= '0' && descr[i] <= '9') item = item * 10 + static_cast<std::uint64_t>(descr[i++] - '0');
    if (descr.find('U') != std::string::npos) item *= 4;
    if (item == 0) return;
    std::uint64_t bytes = 0;
    overflow = overflow || __builtin_mul_overflow(count, item, &bytes);
    if (overflow || bytes != d.size() - data_off)
        add(Severity::suspicious, "malformed", member, data_off, fmt::format("npy data is {} bytes but the header declares {}", d.size() - data_off, overflow ? std::string("more than 2^64") : std::to_string(bytes)));
}

void Walker::safetensors(std::span<const std::uint8_t> d, const std::string& member) {
    auto n = le(d, 0, 8);
    auto j = nlohmann::json::parse(d.begin() + 8, d.begin() + 8 + static_cast<std::ptrdiff_t>(n), nullptr, false);
    if (j.is_discarded() || !j.is_object()) { add(Severity::suspicious, "malformed", member, 8, "safetensors header is not a JSON object"); return; }
    const std::uint64_t body = d.size() - 8 - n;
    static const std::pair<std::string_view, int> dsz[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1}, {"U8", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (auto& item : j.items()) {
        const std::string name = item.key();
        auto& t = item.value();
        if (name == "__metadata__") continue;
        auto bad = [&](std::string_view why) { add(Severity::suspicious, "malformed", member, 8, fmt::format("safetensors tensor '{}': {}", name, why)); };
        if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets")) { bad("missing dtype/shape/data_offsets"); continue; }
        const auto& offs = t["data_offsets"];
        if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) { bad("bad data_offsets"); continue; }
        auto b = offs[0].get<std::uint64_t>(), e = offs[1].get<std::uint64_t>();
        if (b > e || e > body) { bad("data_offsets outside the file"); continue; }
        int es = 0;
        if (t["dtype"].is_string())
            for (auto [dn, s] : dsz) if (dn == t["dtype"].get<std::string>()) es = s;
        if (es == 0) { bad("unknown dtype"); continue; }
        std::uint64_t count = 1;
        bool shape_ok = t["shape"].is_array();
        if (shape_ok)
            for (const auto& x : t["shape"]) {
                if (!x.is_number_unsigned() || __builtin_mul_overflow(count, x.get<std::uint64_t>(), &count)) { shape_ok = false; break; }
            }
        if (!shape_ok || __builtin_mul_overflow(count, static_cast<std::uint64_t>(es), &count)) { bad("bad shape"); continue; }
        if (count != e - b) bad("size does not match shape and dtype");
    }
}

void Walker::gguf(std::span<const std::uint8_t> d, const std::string& member) {
    std::size_t p = 4;
    auto need = [&](std::size_t n) { return n <= d.size() - p; };
    auto bad = [&](std::string why) { add(Severity::suspicious, "malformed", member, p, "gguf: " + why); };
    if (!need(20)) return bad("truncated header");
    auto version = le(d, p, 4);
    if (version < 2 || version > 3) return bad(fmt::format("unsupported version {}", version));
    auto tensors = le(d, p + 4, 8), kvs = le(d, p + 12, 8);
    p += 20;
    std::uint64_t alignment = 32;
    auto str = [&](std::string* out) -> bool {
        if (!need(8)) return false;
        auto n = le(d, p, 8);
        p += 8;
        if (!need(n)) return false;
        if (out) out->assign(reinterpret_cast<const char*>(d.data() + p), n);
        p += n;
        return true;
    };
    static const int scalar[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    std::function<bool(std::uint32_t, std::uint64_t*)> value = [&](std::uint32_t type, std::uint64_t* num) -> bool {
        if (type == 8) return str(nullptr);
        if (type == 9) {
            if (!need(12)) return false;
            auto et = static_cast<std::uint32_t>(le(d, p, 4));
            auto n = le(d, p + 4, 8);
            p += 12;
            if (et == 9 || et > 12) return false;
            if (et != 8) { if (n > (d.size() - p) / scalar[et]) return false; p += n * scalar[et]; return true; }
            for (std::uint64_t i = 0; i < n; ++i) if (!str(nullptr)) return false;
            return true;
        }
        if (type > 12 || !need(scalar[type])) return false;
        if (num) *num = le(d, p, scalar[type]);
        p += scalar[type];
        return true;
    };
    for (std::uint64_t i = 0; i < kvs; ++i) {
        std::string key;
        if (!str(&key) || !need(4)) return bad("truncated metadata");
        auto type = static_cast<std::uint32_t>(le(d, p, 4));
        p += 4;
        std::uint64_t num = 0;
        if (!value(type, &num)) return bad(fmt::format("bad metadata value for '{}'", key));
        if (key == "general.alignment") alignment = num;
    }
    if (alignment == 0 || (alignment & (alignment - 1))) return bad("alignment is not a power of two");
    std::vector<std::uint64_t> offsets;
    for (std::uint64_t i = 0; i < tensors; ++i) {
        if (!str(nullptr) || !need(4)) return bad("truncated tensor info");
        auto dims = le(d, p, 4);
        p += 4;
        if (dims > 8 || !need(dims * 8 + 12)) return bad("bad tensor dimensions");
        p += dims * 8 + 4;
        offsets.push_back(le(d, p, 8));
        p += 8;
    }
    std::uint64_t data_start = (p + alignment - 1) / alignment * alignment;
    for (auto off : offsets)
        if (off % alignment || data_start + off > d.size()) return bad(fmt::format("tensor offset {} lies outside the data section", off));
}

void Walker::zip(std::span<const std::uint8_t> d, const std::string& member, int depth) {
    auto z = read_zip(d);
    if (!z) { add(Severity::suspicious, "malformed", member, 0, "zip: " + z.error().message); return; }
    for (const auto& a : z->anomalies)
        add(Severity::suspicious, "container", a.member.empty() ? member : member + "/" + a.member, a.offset, "zip: " + a.message);
    if (z->first_local_header > 0) {
        add(Severity::suspicious, "container", member, 0, fmt::format("{} bytes precede the first zip member", z->first_local_header));
        scan(d.subspan(0, z->first_local_header), member + "@prefix", depth + 1, false);
    }
    // Storage members that data.pkl references are raw tensor bytes no loader interprets.
    std::set<std::string> storages;
    auto pkl_first = z->entries;
    std::stable_partition(pkl_first.begin(), pkl_first.end(), [](const ZipEntry& e) { return e.name.ends_with(".pkl"); });
    for (const auto& e : pkl_first) {
        auto label = member.empty() ? e.name : member + "/" + e.name;
        bool storage = storages.count(e.name) > 0;
        auto m = extract_member(d, e, o_.max_decompressed, !storage);
        if (!m) { add(Severity::suspicious, "container", label, e.local_header_offset, "zip: " + m.error().message); continue; }
        if (!m->anomaly.empty()) add(Severity::suspicious, "container", label, e.local_header_offset, "zip: " + m->anomaly);
        if (storage) continue;
        if (e.name.ends_with(".pkl")) {
            auto ps = pickles(m->bytes, label, 64, true);
            auto slash = e.name.rfind('/');
            auto prefix = slash == std::string::npos ? std::string{} : e.name.substr(0, slash + 1);
            auto dir = e.name.ends_with("constants.pkl") ? std::string("constants/") : std::string("data/");
            for (const auto& p : ps)
                for (const auto& ref : p.persistent_refs) storages.insert(prefix + dir + ref.key);
            continue;
        }
        scan(m->bytes, label, depth + 1, false);
    }
}

void Walker::scan(std::span<const std::uint8_t> d, const std::string& member, int depth, bool top) {
    if (depth > o_.max_depth) { add(Severity::suspicious, "container", member, 0, "nesting is deeper than the scanner follows"); return; }
    bool pickle_start = looks_like_pickle(d);
    if (starts_with(d, "PK\x03\x04") || starts_with(d, "PK\x05\x06") || (!pickle_start && has_zip_signature(d) && !starts_with(d, "\x93NUMPY"))) {
        set_format(top, "zip");
        zip(d, member, depth);
        return;
    }
    if (starts_with(d, "\x93NUMPY")) { set_format(top, "npy"); npy(d, member); return; }
    if (starts_with(d, "GGUF")) { set_format(top, "gguf"); gguf(d, member); return; }
    if (d.size() >= 10 && le(d, 0, 8) <= d.size() - 8 && d[8] == '{') { set_format(top, "safetensors"); safetensors(d, member); return; }
    if (pickle_start && is_torch_legacy(d)) {
        set_format(top, "torch-legacy");
        legacy(d, member);
        return;
    }
    if (pickle_start) {
        set_format(top, "pickle");
        auto ps = pickles(d, member, 64, true);
        if (!ps.empty() && ps.back().stopped && has_zip_signature(d)) {
            add(Severity::suspicious, "container", member, 0, "file is both a pickle and a zip archive (polyglot)");
            zip(d, member + "@zip", depth + 1);
        }
        return;
    }
    if (auto c = detect_compression(d); c != Compression::none) {
        auto out = decompress(d, c, o_.max_decompressed);
        if (!out) {
            // zlib/lzma detection is heuristic: only a failed top-level file is a finding.
            if (top || c == Compression::gzip || c == Compression::bzip2 || c == Compression::xz)
                add(Severity::suspicious, "container", member, 0, fmt::format("{} stream: {}", to_string(c), out.error().message));
            else
                return;
        } else {
            set_format(top, fmt::format("{}-compressed", to_string(c)));
            auto label = fmt::format("{}!{}", member, to_string(c));
            scan(*out, label, depth + 1, false);
            return;
        }
    }
    if (top) {
        // Fail closed: a broken pickle still runs its prefix when loaded, so analyse it anyway.
        set_format(top, "unknown");
        add(Severity::suspicious, "format", member, 0, "not a recognised model format");
        pickles(d, member, 64, true);
    }
}

struct EvpCtx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~EvpCtx() { EVP_MD_CTX_free(p); }
};

}  // namespace

Sha256 sha256(std::span<const std::uint8_t> data) {
    Sha256 out{};
    EvpCtx ctx;
    unsigned len = 0;
    EVP_DigestInit_ex(ctx.p, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx.p, data.data(), data.size());
    EVP_DigestFinal_ex(ctx.p, out.data(), &len);
    return out;
}

std::string to_hex(const Sha256& d) {
    std::string s;
    s.reserve(64);
    for (auto b : d) s += fmt::format("{:02x}", b);
    return s;
}

ScanReport scan_bytes(std::span<const std::uint8_t> data, std::string path, const ScanOptions& opts) {
    ScanReport r;
    r.path = std::move(path);
    Walker(r, opts).scan(data, "", 0, true);
    return r;
}

namespace {

// Anonymous buffer for a whole file. mmap rather than new[]: transparent huge pages cut the
// page faults of filling 1 GiB by 512x, and nothing is zero-filled twice.
class FileBuffer {
public:
    explicit FileBuffer(std::size_t size) : size_(size ? size : 1) {
        void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return;
        ::madvise(p, size_, MADV_HUGEPAGE);
        p_ = static_cast<std::uint8_t*>(p);
    }
    ~FileBuffer() {
        if (p_) ::munmap(p_, size_);
    }
    FileBuffer(const FileBuffer&) = delete;
    FileBuffer& operator=(const FileBuffer&) = delete;
    std::uint8_t* get() const { return p_; }

private:
    std::size_t size_;
    std::uint8_t* p_ = nullptr;
};

}  // namespace

Result<HashedScan> scan_and_hash_fd(int fd, std::string path, const ScanOptions& opts) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return make_error(fmt::format("scanner: fstat {}: {}", path, std::strerror(errno)), errno);
    if (!S_ISREG(st.st_mode)) return make_error(fmt::format("scanner: {} is not a regular file", path));
    const auto size = static_cast<std::size_t>(st.st_size);
    // A private copy rather than a mapping of the file: hash and scan must see the very same
    // bytes even if someone writes the file meanwhile, and a writer truncating a mapped file
    // would SIGBUS the agent. The copy runs on this thread while the hasher follows it.
    FileBuffer buf(size);
    if (!buf.get()) return make_error(fmt::format("scanner: {} bytes of memory for {}: {}", size, path, std::strerror(errno)), errno);
    // Bytes read so far; the top bit says the reader is finished, so that last store always
    // changes the value and wakes a hasher sleeping in wait().
    constexpr std::size_t finished = std::size_t{1} << 63;
    std::atomic<std::size_t> avail{0};
    HashedScan out;
    std::thread hasher([&] {
        EvpCtx ctx;
        EVP_DigestInit_ex(ctx.p, EVP_sha256(), nullptr);
        std::size_t hashed = 0;
        while (true) {
            auto a = avail.load(std::memory_order_acquire);
            auto n = a & ~finished;
            if (n > hashed) {
                EVP_DigestUpdate(ctx.p, buf.get() + hashed, n - hashed);
                hashed = n;
                continue;
            }
            if (a & finished) break;
            // Sleep in the kernel until the reader publishes more (no spinning on a busy host).
            avail.wait(a, std::memory_order_acquire);
        }
        unsigned len = 0;
        EVP_DigestFinal_ex(ctx.p, out.sha256.data(), &len);
    });
    constexpr std::size_t chunk = std::size_t{4} << 20;
    std::size_t got = 0;
    int read_errno = 0;
    bool cancelled = false;
    while (got < size) {
        if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) { cancelled = true; break; }
        auto n = pread(fd, buf.get() + got, std::min(chunk, size - got), static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { read_errno = errno; break; }
        if (n == 0) break;  // the file shrank while reading: hash and scan what was read
        got += static_cast<std::size_t>(n);
        avail.store(got, std::memory_order_release);
        avail.notify_one();
    }
    avail.store(got | finished, std::memory_order_release);
    avail.notify_one();
    if (read_errno == 0 && !cancelled) {
        out.size = got;
        out.report = scan_bytes({buf.get(), got}, path, opts);
    }
    hasher.join();
    if (cancelled) return make_error(fmt::format("scanner: verification of {} cancelled", path), ECANCELED);
    if (read_errno != 0) return make_error(fmt::format("scanner: read {}: {}", path, std::strerror(read_errno)), read_errno);
    return out;
}

Result<HashedScan> scan_and_hash_file(const std::string& path, const ScanOptions& opts) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(fmt::format("scanner: open {}: {}", path, std::strerror(errno)), errno);
    auto r = scan_and_hash_fd(fd, path, opts);
    ::close(fd);
    return r;
}

}  // namespace mw::scanner
