// Verification of detached policy-bundle signatures against the trusted key directory.
#include "control/bundle_signature.hpp"

#include <algorithm>
#include <filesystem>

namespace mw {

Result<std::vector<VerifyKey>> load_trusted_keys(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> files;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        auto ext = it->path().extension();
        if (it->is_regular_file() && (ext == ".pem" || ext == ".pub")) files.push_back(it->path());
    }
    if (ec) return make_error("policy signature: cannot list trusted keys in " + dir + ": " + ec.message(), ec.value());
    std::sort(files.begin(), files.end());
    std::vector<VerifyKey> keys;
    for (const auto& f : files) {
        auto k = VerifyKey::load(f.string());
        if (!k) return make_error("policy signature: " + k.error().message);
        keys.push_back(std::move(k.value()));
    }
    return keys;
}

Result<std::string> verify_policy_signature(std::string_view bundle, std::string_view signature_b64,
                                            const std::vector<VerifyKey>& trusted) {
    if (signature_b64.empty()) return make_error("policy signature: the bundle is not signed and signatures are required", 422);
    if (!base64_decode(signature_b64)) return make_error("policy signature: the signature is not valid base64", 422);
    if (trusted.empty()) return make_error("policy signature: no trusted keys are configured", 422);
    for (const auto& k : trusted)
        if (k.verify_base64(bundle, signature_b64)) return k.key_id();
    return make_error("policy signature: no trusted key verifies the signature (" + std::to_string(trusted.size()) +
                          " keys tried)",
                      422);
}

}  // namespace mw
