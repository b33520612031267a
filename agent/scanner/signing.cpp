// OpenSSL EVP signing: one code path for ECDSA (DER signatures over SHA-256) and Ed25519
// (pure EdDSA, no pre-hash), chosen by the key's own type.
#include "scanner/signing.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace mw::scanner {
namespace {

std::string ssl_error() {
    unsigned long e = ERR_get_error();
    if (e == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

struct FileCloser {
    void operator()(FILE* f) const { if (f) std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

struct MdCtx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~MdCtx() { EVP_MD_CTX_free(p); }
};

const EVP_MD* digest_for(EVP_PKEY* k) { return EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256(); }

}  // namespace

Key& Key::operator=(Key&& o) noexcept {
    if (this != &o) {
        EVP_PKEY_free(k_);
        k_ = std::exchange(o.k_, nullptr);
    }
    return *this;
}

Key::~Key() { EVP_PKEY_free(k_); }

std::string Key::algorithm() const {
    if (!k_) return "none";
    if (EVP_PKEY_get_id(k_) == EVP_PKEY_ED25519) return "ed25519";
    if (EVP_PKEY_get_id(k_) == EVP_PKEY_EC) return "ecdsa-p256-sha256";
    return "unsupported";
}

Result<Key> generate_key(KeyType type) {
    EVP_PKEY* k = type == KeyType::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!k) return make_error("signing: key generation failed: " + ssl_error());
    return Key(k);
}

Result<void> write_private_pem(const Key& k, const std::string& path) {
    File f(std::fopen(path.c_str(), "wx"));
    if (!f) return make_error(fmt::format("signing: create {}: {}", path, std::strerror(errno)), errno);
    ::fchmod(fileno(f.get()), 0600);
    if (!PEM_write_PrivateKey(f.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr))
        return make_error("signing: write private key: " + ssl_error());
    return {};
}

Result<void> write_public_pem(const Key& k, const std::string& path) {
    File f(std::fopen(path.c_str(), "w"));
    if (!f) return make_error(fmt::format("signing: create {}: {}", path, std::strerror(errno)), errno);
    if (!PEM_write_PUBKEY(f.get(), k.get())) return make_error("signing: write public key: " + ssl_error());
    return {};
}

static Result<Key> check_type(EVP_PKEY* k, const std::string& what) {
    Key key(k);
    if (EVP_PKEY_get_id(k) == EVP_PKEY_ED25519) return key;
    if (EVP_PKEY_get_id(k) == EVP_PKEY_EC) {
        char group[64] = {};
        std::size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &len) && std::string(group) == "prime256v1") return key;
        return make_error(fmt::format("signing: {}: only the P-256 curve is accepted (got '{}')", what, group));
    }
    return make_error(fmt::format("signing: {}: key type is neither ECDSA P-256 nor Ed25519", what));
}

Result<Key> load_private_pem(const std::string& path) {
    File f(std::fopen(path.c_str(), "r"));
    if (!f) return make_error(fmt::format("signing: open {}: {}", path, std::strerror(errno)), errno);
    EVP_PKEY* k = PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
    if (!k) return make_error(fmt::format("signing: {} is not a PEM private key: {}", path, ssl_error()));
    return check_type(k, path);
}

Result<Key> load_public_pem(const std::string& path) {
    File f(std::fopen(path.c_str(), "r"));
    if (!f) return make_error(fmt::format("signing: open {}: {}", path, std::strerror(errno)), errno);
    EVP_PKEY* k = PEM_read_PUBKEY(f.get(), nullptr, nullptr, nullptr);
    if (!k) return make_error(fmt::format("signing: {} is not a PEM public key: {}", path, ssl_error()));
    return check_type(k, path);
}

Result<Key> public_from_pem_text(const std::string& pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    EVP_PKEY* k = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!k) return make_error("signing: not a PEM public key: " + ssl_error());
    return check_type(k, "inline key");
}

Result<std::vector<std::uint8_t>> sign(const Key& priv, std::span<const std::uint8_t> msg) {
    MdCtx ctx;
    if (EVP_DigestSignInit(ctx.p, nullptr, digest_for(priv.get()), nullptr, priv.get()) != 1)
        return make_error("signing: sign init: " + ssl_error());
    std::size_t len = 0;
    if (EVP_DigestSign(ctx.p, nullptr, &len, msg.data(), msg.size()) != 1) return make_error("signing: sign: " + ssl_error());
    std::vector<std::uint8_t> sig(len);
    if (EVP_DigestSign(ctx.p, sig.data(), &len, msg.data(), msg.size()) != 1) return make_error("signing: sign: " + ssl_error());
    sig.resize(len);
    return sig;
}

Result<void> verify(const Key& pub, std::span<const std::uint8_t> msg, std::span<const std::uint8_t> sig) {
    MdCtx ctx;
    if (EVP_DigestVerifyInit(ctx.p, nullptr, digest_for(pub.get()), nullptr, pub.get()) != 1)
        return make_error("signing: verify init: " + ssl_error());
    int rc = EVP_DigestVerify(ctx.p, sig.data(), sig.size(), msg.data(), msg.size());
    ERR_clear_error();
    if (rc != 1) return make_error(fmt::format("signature does not verify with the {} key", pub.algorithm()));
    return {};
}

std::string base64_encode(std::span<const std::uint8_t> data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

Result<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
    std::string clean;
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ') clean += c;
    if (clean.size() % 4) return make_error("base64 text length is not a multiple of 4");
    std::vector<std::uint8_t> out(3 * clean.size() / 4 + 1);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
    if (n < 0) return make_error("invalid base64");
    std::size_t pad = 0;
    if (!clean.empty() && clean.back() == '=') ++pad;
    if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

}  // namespace mw::scanner
