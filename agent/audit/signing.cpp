// OpenSSL EVP implementation of the detached signatures used by the audit log and policy bundles.
#include "audit/signing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mw {
namespace {

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    if (e == 0) return "unknown openssl error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};

bool is_ed25519(const EVP_PKEY* key) { return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519; }

// Ed25519 is a one-shot scheme with no separate digest; ECDSA here always means SHA-256.
const EVP_MD* digest_for(const EVP_PKEY* key) { return is_ed25519(key) ? nullptr : EVP_sha256(); }

std::string algorithm_of(const EVP_PKEY* key) {
    if (is_ed25519(key)) return "ed25519";
    if (EVP_PKEY_get_id(key) == EVP_PKEY_EC) return "ecdsa-p256-sha256";
    return "unsupported";
}

Result<void> check_supported(EVP_PKEY* key, const std::string& what) {
    if (is_ed25519(key)) return {};
    if (EVP_PKEY_get_id(key) == EVP_PKEY_EC) {
        char group[64] = {};
        size_t len = 0;
        if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1 && std::string_view(group) == "prime256v1")
            return {};
        return make_error(what + ": only the P-256 curve is accepted for ECDSA, found " + group);
    }
    return make_error(what + ": key type is neither Ed25519 nor ECDSA P-256");
}

std::string key_id_of(EVP_PKEY* key) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key, &der);
    if (len <= 0) return "";
    std::string id = sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len)));
    OPENSSL_free(der);
    return id.substr(0, 16);
}

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("cannot open " + path + ": " + std::strerror(errno), errno);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

void PkeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 0xf]);
    }
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    std::string clean;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        bool valid = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                     c == '/' || c == '=';
        if (!valid) return make_error("base64: invalid character");
        clean.push_back(c);
    }
    if (clean.empty() || clean.size() % 4 != 0) return make_error("base64: length is not a multiple of 4");
    std::string out(clean.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
    if (n < 0) return make_error("base64: malformed input");
    // EVP_DecodeBlock counts padding as zero bytes.
    size_t pad = 0;
    if (clean.ends_with("==")) pad = 2;
    else if (clean.ends_with("=")) pad = 1;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

Result<SigningKey> SigningKey::generate_ed25519() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!key) return make_error("signing: ed25519 key generation failed: " + openssl_error());
    return SigningKey(PkeyPtr(key));
}

Result<SigningKey> SigningKey::load(const std::string& path) {
    auto pem = read_file(path);
    if (!pem) return make_error("signing: " + pem.error().message, pem.error().code);
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!key) return make_error("signing: " + path + " is not a PEM private key: " + openssl_error());
    PkeyPtr owned(key);
    if (auto ok = check_supported(key, "signing: " + path); !ok) return ok.error();
    return SigningKey(std::move(owned));
}

Result<SigningKey> SigningKey::load_or_create(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        // A group- or world-readable signing key lets others forge checkpoints.
        if ((st.st_mode & 077) != 0)
            return make_error("signing: " + path + " is readable by group or others (mode " +
                              fmt_mode(st.st_mode) + "); expected 0600");
        return load(path);
    }
    if (errno != ENOENT) return make_error("signing: cannot stat " + path + ": " + std::strerror(errno), errno);
    auto key = generate_ed25519();
    if (!key) return key.error();
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(bio.get(), key->key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return make_error("signing: cannot encode private key: " + openssl_error());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return make_error("signing: cannot create " + path + ": " + std::strerror(errno), errno);
    bool ok = ::write(fd, data, static_cast<size_t>(len)) == len && ::fsync(fd) == 0;
    int err = errno;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        return make_error("signing: cannot write " + path + ": " + std::strerror(err), err);
    }
    return key;
}

std::string SigningKey::fmt_mode(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
    return buf;
}

Result<std::string> SigningKey::sign_base64(std::string_view message) const {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (EVP_DigestSignInit(ctx.get(), nullptr, digest_for(key_.get()), nullptr, key_.get()) != 1)
        return make_error("signing: init failed: " + openssl_error());
    size_t len = 0;
    auto msg = reinterpret_cast<const unsigned char*>(message.data());
    if (EVP_DigestSign(ctx.get(), nullptr, &len, msg, message.size()) != 1)
        return make_error("signing: size query failed: " + openssl_error());
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, msg, message.size()) != 1)
        return make_error("signing: sign failed: " + openssl_error());
    sig.resize(len);
    return base64_encode(sig);
}

std::string SigningKey::public_pem() const {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(bio.get(), key_.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(len));
}

std::string SigningKey::key_id() const { return key_id_of(key_.get()); }
std::string SigningKey::algorithm() const { return algorithm_of(key_.get()); }

Result<VerifyKey> VerifyKey::from_pem(std::string_view pem) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (!key) return make_error("signing: not a PEM public key: " + openssl_error());
    PkeyPtr owned(key);
    if (auto ok = check_supported(key, "signing: public key"); !ok) return ok.error();
    return VerifyKey(std::move(owned));
}

Result<VerifyKey> VerifyKey::load(const std::string& path) {
    auto pem = read_file(path);
    if (!pem) return make_error("signing: " + pem.error().message, pem.error().code);
    auto key = from_pem(*pem);
    if (!key) return make_error(key.error().message + " (" + path + ")");
    return key;
}

bool VerifyKey::verify_base64(std::string_view message, std::string_view signature_b64) const {
    auto sig = base64_decode(signature_b64);
    if (!sig) return false;
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, digest_for(key_.get()), nullptr, key_.get()) != 1) {
        ERR_clear_error();
        return false;
    }
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                              reinterpret_cast<const unsigned char*>(message.data()), message.size());
    ERR_clear_error();
    return rc == 1;
}

std::string VerifyKey::key_id() const { return key_id_of(key_.get()); }
std::string VerifyKey::algorithm() const { return algorithm_of(key_.get()); }

}  // namespace mw
