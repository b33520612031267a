// Manifest creation, parsing and the approval decision. The manifest bytes are read once and
// the signature is verified over exactly those bytes before they are parsed.
#include "scanner/manifest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scanner/scanner.hpp"

namespace mw::scanner {
namespace {

bool safe_relative(const std::string& p) {
    if (p.empty() || p.front() == '/') return false;
    for (const auto& part : std::filesystem::path(p))
        if (part == ".." || part == ".") return false;
    return true;
}

Result<std::string> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)), errno);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

const ManifestEntry* Manifest::find(std::string_view rel) const {
    for (const auto& e : files)
        if (e.path == rel) return &e;
    return nullptr;
}

Result<Manifest> parse_manifest(std::string_view text) {
    auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("manifest is not a JSON object");
    Manifest m;
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != 1)
        return make_error("manifest version must be 1");
    if (!j.contains("model_card") || !j["model_card"].is_string()) return make_error("manifest has no model_card path");
    m.model_card = j["model_card"].get<std::string>();
    if (!safe_relative(m.model_card)) return make_error(fmt::format("manifest model_card path '{}' is not a safe relative path", m.model_card));
    if (!j.contains("files") || !j["files"].is_array()) return make_error("manifest has no files array");
    for (const auto& f : j["files"]) {
        if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("size") ||
            !f["size"].is_number_unsigned() || !f.contains("sha256") || !f["sha256"].is_string())
            return make_error("manifest file entry needs path (string), size (unsigned) and sha256 (hex string)");
        ManifestEntry e{f["path"].get<std::string>(), f["size"].get<std::uint64_t>(), f["sha256"].get<std::string>()};
        if (!safe_relative(e.path)) return make_error(fmt::format("manifest path '{}' is not a safe relative path", e.path));
        if (e.sha256.size() != 64 || e.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
            return make_error(fmt::format("manifest sha256 for '{}' is not 64 lower-case hex digits", e.path));
        if (m.find(e.path)) return make_error(fmt::format("manifest lists '{}' twice", e.path));
        m.files.push_back(std::move(e));
    }
    if (!m.find(m.model_card)) return make_error(fmt::format("model card '{}' is not listed (with its hash) in the manifest", m.model_card));
    return m;
}

std::string serialize_manifest(const Manifest& m) {
    auto files = m.files;
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    nlohmann::json j{{"version", m.version}, {"model_card", m.model_card}, {"files", nlohmann::json::array()}};
    for (const auto& f : files) j["files"].push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    return j.dump(2) + "\n";
}

Result<Manifest> create_manifest(const std::filesystem::path& dir, const std::string& card_rel, const std::vector<std::string>& exclude) {
    Manifest m;
    m.model_card = card_rel;
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec)) files.push_back(it->path());
    if (ec) return make_error(fmt::format("manifest: walk {}: {}", dir.string(), ec.message()), ec.value());
    for (const auto& f : files) {
        auto rel = std::filesystem::relative(f, dir).string();
        if (std::find(exclude.begin(), exclude.end(), rel) != exclude.end()) continue;
        auto r = scan_and_hash_file(f.string());
        if (!r) return r.error();
        m.files.push_back({rel, r->size, to_hex(r->sha256)});
    }
    std::sort(m.files.begin(), m.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    if (!m.find(card_rel)) return make_error(fmt::format("manifest: model card '{}' is not a file under {}", card_rel, dir.string()));
    return m;
}

std::string signature_path_for(const std::string& manifest_path) { return manifest_path + ".sig"; }

Result<ModelApprover> ModelApprover::load(const ApprovalConfig& cfg) {
    auto bytes = read_all(cfg.manifest_path);
    if (!bytes) return make_error("approval: manifest " + bytes.error().message);
    auto sig_path = cfg.signature_path.empty() ? signature_path_for(cfg.manifest_path) : cfg.signature_path;
    auto sig_text = read_all(sig_path);
    if (!sig_text) return make_error("approval: signature " + sig_text.error().message);
    auto sig = base64_decode(*sig_text);
    if (!sig) return make_error(fmt::format("approval: signature {}: {}", sig_path, sig.error().message));
    if (cfg.trusted_key_paths.empty()) return make_error("approval: no trusted keys configured");
    ModelApprover a;
    std::string why;
    std::span<const std::uint8_t> msg(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size());
    for (const auto& kp : cfg.trusted_key_paths) {
        auto key = load_public_pem(kp);
        if (!key) return make_error("approval: " + key.error().message);
        if (verify(*key, msg, *sig)) {
            a.signer_ = key->algorithm();
            break;
        }
    }
    if (a.signer_.empty()) return make_error(fmt::format("approval: manifest {} is not signed by any trusted key", cfg.manifest_path));
    auto m = parse_manifest(*bytes);
    if (!m) return make_error(fmt::format("approval: manifest {}: {}", cfg.manifest_path, m.error().message));
    a.manifest_ = std::move(m.value());
    a.root_ = std::filesystem::absolute(cfg.manifest_path).parent_path();
    // The card is approved from the same bytes that are hashed against the manifest.
    auto card_path = a.root_ / a.manifest_.model_card;
    auto card_bytes = read_all(card_path.string());
    if (!card_bytes) return make_error("approval: model card " + card_bytes.error().message);
    const auto* ce = a.manifest_.find(a.manifest_.model_card);
    auto digest = to_hex(sha256({reinterpret_cast<const std::uint8_t*>(card_bytes->data()), card_bytes->size()}));
    if (digest != ce->sha256) return make_error(fmt::format("approval: model card {} does not match its manifest sha256", card_path.string()));
    a.card_ = check_model_card_text(*card_bytes, a.manifest_.model_card);
    if (!a.card_.complete()) {
        std::string what;
        for (const auto& f : a.card_.missing) what += (what.empty() ? "" : ", ") + f;
        for (const auto& p : a.card_.problems) what += (what.empty() ? "" : "; ") + p;
        return make_error(fmt::format("approval: model card {} is incomplete: missing {}", card_path.string(), what));
    }
    return a;
}

Decision ModelApprover::check_fd(int fd, const std::filesystem::path& path, const std::atomic<bool>* cancel) const {
    Decision d;
    auto rel = path.lexically_normal().lexically_relative(root_).string();
    if (rel.empty() || rel.starts_with("..")) {
        d.reason = fmt::format("{} is outside the model directory {}", path.string(), root_.string());
        return d;
    }
    const auto* e = manifest_.find(rel);
    if (!e) {
        d.reason = fmt::format("{} is not listed in the manifest", rel);
        return d;
    }
    ScanOptions opts;
    opts.cancel = cancel;
    auto r = scan_and_hash_fd(fd, path.string(), opts);
    if (!r) {
        d.reason = r.error().message;
        return d;
    }
    d.sha256 = to_hex(r->sha256);
    d.verdict = r->report.verdict();
    d.report = std::move(r->report);
    if (r->size != e->size) d.reason = fmt::format("{} is {} bytes, the manifest says {}", rel, r->size, e->size);
    else if (d.sha256 != e->sha256) d.reason = fmt::format("{} sha256 {} does not match the manifest", rel, d.sha256);
    else if (d.verdict != Verdict::clean && rel != manifest_.model_card)
        d.reason = fmt::format("{} scan verdict is {}", rel, to_string(d.verdict));
    else {
        d.approved = true;
        d.reason = "approved";
    }
    return d;
}

Decision ModelApprover::check_path(const std::filesystem::path& path) const {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        Decision d;
        d.reason = fmt::format("open {}: {}", path.string(), std::strerror(errno));
        return d;
    }
    auto d = check_fd(fd, std::filesystem::absolute(path));
    ::close(fd);
    return d;
}

}  // namespace mw::scanner
