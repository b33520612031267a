// OpenSSF model-signing verifier. The subject digest is SHA-256 over the raw resource digests
// in predicate order (the signer sorts them by name), as model_signing v1.0 defines it.
#include "scanner/openssf_signing.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "scanner/scanner.hpp"
#include "scanner/signing.hpp"

namespace mw::scanner {
namespace {

constexpr std::string_view in_toto_payload_type = "application/vnd.in-toto+json";
constexpr std::string_view statement_type = "https://in-toto.io/Statement/v1";
constexpr std::string_view predicate_type = "https://model_signing/signature/v1.0";

Result<std::vector<std::uint8_t>> hex_decode(const std::string& hex) {
    if (hex.size() != 64) return make_error(fmt::format("digest '{}' is not 64 hex digits", hex));
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        unsigned v = 0;
        for (int k = 0; k < 2; ++k) {
            char c = hex[i + k];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
            else return make_error(fmt::format("digest '{}' is not lower-case hex", hex));
        }
        out.push_back(static_cast<std::uint8_t>(v));
    }
    return out;
}

bool ignored(const std::string& rel, const std::vector<std::string>& ignore) {
    for (const auto& i : ignore)
        if (rel == i || rel.starts_with(i + "/")) return true;
    return false;
}

}  // namespace

std::string dsse_pae(std::string_view type, std::string_view payload) {
    return fmt::format("DSSEv1 {} {} {} {}", type.size(), type, payload.size(), payload);
}

Result<OpenSsfVerification> verify_openssf_model_signature(const std::filesystem::path& dir, const std::filesystem::path& bundle_path,
                                                           const std::vector<std::string>& keys) {
    std::ifstream in(bundle_path, std::ios::binary);
    if (!in) return make_error(fmt::format("openssf: cannot read {}", bundle_path.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    auto bundle = nlohmann::json::parse(ss.str(), nullptr, false);
    if (bundle.is_discarded() || !bundle.is_object()) return make_error("openssf: bundle is not JSON");
    if (!bundle.contains("dsseEnvelope") || !bundle["dsseEnvelope"].is_object()) return make_error("openssf: bundle has no dsseEnvelope");
    const auto& env = bundle["dsseEnvelope"];
    if (!env.contains("payloadType") || env["payloadType"] != in_toto_payload_type)
        return make_error(fmt::format("openssf: DSSE payloadType must be {}", in_toto_payload_type));
    if (!env.contains("payload") || !env["payload"].is_string() || !env.contains("signatures") || !env["signatures"].is_array() ||
        env["signatures"].empty() || !env["signatures"][0].is_object() || !env["signatures"][0].contains("sig") || !env["signatures"][0]["sig"].is_string())
        return make_error("openssf: DSSE envelope needs a payload and a signature");
    auto payload = base64_decode(env["payload"].get<std::string>());
    if (!payload) return make_error("openssf: payload: " + payload.error().message);
    auto sig = base64_decode(env["signatures"][0]["sig"].get<std::string>());
    if (!sig) return make_error("openssf: signature: " + sig.error().message);
    std::string payload_text(payload->begin(), payload->end());
    auto pae = dsse_pae(in_toto_payload_type, payload_text);
    bool verified = false;
    for (const auto& kp : keys) {
        auto key = load_public_pem(kp);
        if (!key) return make_error("openssf: " + key.error().message);
        if (verify(*key, {reinterpret_cast<const std::uint8_t*>(pae.data()), pae.size()}, *sig)) {
            verified = true;
            break;
        }
    }
    if (!verified) return make_error("openssf: DSSE signature does not verify with any trusted key");

    // Only now, over the verified bytes: parse the statement.
    auto st = nlohmann::json::parse(payload_text, nullptr, false);
    if (st.is_discarded() || !st.is_object()) return make_error("openssf: statement is not JSON");
    if (st.value("_type", "") != statement_type) return make_error(fmt::format("openssf: statement _type must be {}", statement_type));
    if (st.value("predicateType", "") != predicate_type) return make_error(fmt::format("openssf: predicateType must be {}", predicate_type));
    if (!st.contains("subject") || !st["subject"].is_array() || st["subject"].size() != 1 || !st["subject"][0].is_object())
        return make_error("openssf: statement must have exactly one subject");
    const auto& subj = st["subject"][0];
    if (!subj.contains("digest") || !subj["digest"].is_object() || !subj["digest"].contains("sha256") || !subj["digest"]["sha256"].is_string())
        return make_error("openssf: subject has no sha256 digest");
    if (!st.contains("predicate") || !st["predicate"].is_object() || !st["predicate"].contains("resources") || !st["predicate"]["resources"].is_array())
        return make_error("openssf: predicate has no resources");
    const auto& pred = st["predicate"];
    std::vector<std::string> ignore{bundle_path.filename().string()};
    if (pred.contains("serialization") && pred["serialization"].is_object()) {
        const auto& ser = pred["serialization"];
        if (ser.value("method", "") != "files") return make_error("openssf: only the 'files' serialization method is supported");
        if (ser.value("hash_type", "sha256") != "sha256") return make_error("openssf: only sha256 hashing is supported");
        if (ser.contains("ignore_paths") && ser["ignore_paths"].is_array())
            for (const auto& p : ser["ignore_paths"])
                if (p.is_string()) ignore.push_back(p.get<std::string>());
    }

    OpenSsfVerification out;
    out.model_name = subj.value("name", "");
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::map<std::string, std::string> signed_digests;
    for (const auto& r : pred["resources"]) {
        if (!r.is_object() || !r.contains("name") || !r["name"].is_string() || !r.contains("digest") || !r["digest"].is_string() ||
            r.value("algorithm", "") != "sha256") {
            EVP_MD_CTX_free(ctx);
            return make_error("openssf: resource needs name, algorithm sha256 and digest");
        }
        auto raw = hex_decode(r["digest"].get<std::string>());
        if (!raw) {
            EVP_MD_CTX_free(ctx);
            return make_error("openssf: " + raw.error().message);
        }
        EVP_DigestUpdate(ctx, raw->data(), raw->size());
        auto name = r["name"].get<std::string>();
        if (!signed_digests.emplace(name, r["digest"].get<std::string>()).second) {
            EVP_MD_CTX_free(ctx);
            return make_error(fmt::format("openssf: resource '{}' is listed twice", name));
        }
        out.resources.push_back({name, r["digest"].get<std::string>()});
    }
    Sha256 root{};
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, root.data(), &len);
    EVP_MD_CTX_free(ctx);
    if (to_hex(root) != subj["digest"]["sha256"].get<std::string>())
        return make_error(fmt::format("openssf: subject digest {} does not match the resources ({})", subj["digest"]["sha256"].get<std::string>(), to_hex(root)));

    // Re-hash the directory: names and digests must match exactly, in both directions.
    std::map<std::string, std::string> actual;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        auto rel = std::filesystem::relative(it->path(), dir).generic_string();
        if (ignored(rel, ignore)) {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(ec)) continue;
        auto r = scan_and_hash_file(it->path().string());
        if (!r) return make_error("openssf: " + r.error().message);
        actual[rel] = to_hex(r->sha256);
        out.scans.push_back(std::move(r->report));
    }
    if (ec) return make_error(fmt::format("openssf: walk {}: {}", dir.string(), ec.message()));
    for (const auto& [name, digest] : signed_digests) {
        auto it = actual.find(name);
        if (it == actual.end()) return make_error(fmt::format("openssf: signed file '{}' is missing", name));
        if (it->second != digest) return make_error(fmt::format("openssf: '{}' sha256 {} does not match the signed {}", name, it->second, digest));
    }
    for (const auto& [name, digest] : actual)
        if (!signed_digests.count(name)) return make_error(fmt::format("openssf: '{}' is not covered by the signature", name));
    return out;
}

}  // namespace mw::scanner
