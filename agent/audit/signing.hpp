// Detached signatures (Ed25519 or ECDSA P-256) for audit checkpoints and policy bundles.
// Keys are PEM files; signatures travel as base64 so they fit in JSON and HTTP headers.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

struct evp_pkey_st;

namespace mw {

std::string sha256_hex(std::string_view data);
std::string base64_encode(std::string_view bytes);
// Whitespace (line breaks from `base64` or PEM-style wrapping) is ignored.
Result<std::string> base64_decode(std::string_view text);

struct PkeyFree {
    void operator()(evp_pkey_st* key) const;
};
using PkeyPtr = std::unique_ptr<evp_pkey_st, PkeyFree>;

// A private key that signs. Ed25519 signs the message itself; ECDSA signs its SHA-256.
class SigningKey {
public:
    // Loads the PEM private key at `path`, or, if the file does not exist, generates an
    // Ed25519 key and writes it there with mode 0600 (O_EXCL, so a racing writer loses).
    static Result<SigningKey> load_or_create(const std::string& path);
    static Result<SigningKey> load(const std::string& path);
    static Result<SigningKey> generate_ed25519();

    Result<std::string> sign_base64(std::string_view message) const;
    std::string public_pem() const;
    // First 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo.
    std::string key_id() const;
    std::string algorithm() const;  // "ed25519" | "ecdsa-p256-sha256"

private:
    explicit SigningKey(PkeyPtr key) : key_(std::move(key)) {}
    static std::string fmt_mode(unsigned mode);
    std::shared_ptr<evp_pkey_st> key_;
};

// A public key that verifies signatures made by SigningKey (or by `openssl pkeyutl -sign`).
class VerifyKey {
public:
    static Result<VerifyKey> from_pem(std::string_view pem);
    static Result<VerifyKey> load(const std::string& path);

    bool verify_base64(std::string_view message, std::string_view signature_b64) const;
    std::string key_id() const;
    std::string algorithm() const;

private:
    explicit VerifyKey(PkeyPtr key) : key_(std::move(key)) {}
    std::shared_ptr<evp_pkey_st> key_;
};

}  // namespace mw
