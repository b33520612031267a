// A signed model directory for the model-gate tests: model card, manifest of the files present,
// detached signature and the trusted public key, as `mw-scan model sign` would leave them.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "scanner/manifest.hpp"
#include "scanner/signing.hpp"

namespace mw::test {

// Writes MODEL_CARD.md into models, lists every file now there in manifest.json, signs it with
// a fresh key of `type` (manifest.json.sig) and writes that key's public PEM to pub_path.
// Files changed afterwards no longer match their sha256: that is how the tests tamper.
inline void sign_model_dir(const std::filesystem::path& models, const std::string& pub_path,
                           scanner::KeyType type = scanner::KeyType::ecdsa_p256) {
    std::ofstream(models / "MODEL_CARD.md") << "---\nowner: tests\nintended_use: test\ntraining_data: none\n"
                                              "known_failure_modes: none\nlast_evaluation_date: 2026-11-01\n"
                                              "failure_response: roll back\n---\n";
    auto m = scanner::create_manifest(models, "MODEL_CARD.md");
    REQUIRE(m.ok());
    const auto text = scanner::serialize_manifest(*m);
    std::ofstream(models / "manifest.json", std::ios::binary) << text;
    auto key = scanner::generate_key(type);
    REQUIRE(key.ok());
    auto sig = scanner::sign(*key, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    REQUIRE(sig.ok());
    std::ofstream(models / "manifest.json.sig") << scanner::base64_encode(*sig);
    REQUIRE(scanner::write_public_pem(*key, pub_path).ok());
}

}  // namespace mw::test
