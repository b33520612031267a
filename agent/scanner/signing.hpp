// Detached signatures over manifests with OpenSSL 3 EVP: ECDSA P-256 (SHA-256) and Ed25519.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <string>
#include <vector>

#include "common/result.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace mw::scanner {

enum class KeyType : std::uint8_t { ecdsa_p256, ed25519 };

// Move-only owner of an EVP_PKEY (public or private).
class Key {
public:
    Key() = default;
    explicit Key(EVP_PKEY* k) : k_(k) {}
    Key(Key&& o) noexcept : k_(std::exchange(o.k_, nullptr)) {}
    Key& operator=(Key&& o) noexcept;
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    ~Key();
    EVP_PKEY* get() const { return k_; }
    std::string algorithm() const;  // "ecdsa-p256-sha256" / "ed25519"

private:
    EVP_PKEY* k_ = nullptr;
};

Result<Key> generate_key(KeyType type);
Result<void> write_private_pem(const Key& k, const std::string& path);  // mode 0600
Result<void> write_public_pem(const Key& k, const std::string& path);
Result<Key> load_private_pem(const std::string& path);
Result<Key> load_public_pem(const std::string& path);
Result<Key> public_from_pem_text(const std::string& pem);

Result<std::vector<std::uint8_t>> sign(const Key& priv, std::span<const std::uint8_t> msg);
// Ok only if the signature verifies; the error says why not.
Result<void> verify(const Key& pub, std::span<const std::uint8_t> msg, std::span<const std::uint8_t> sig);

std::string base64_encode(std::span<const std::uint8_t> data);
Result<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace mw::scanner
