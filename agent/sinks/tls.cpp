// OpenSSL client contexts for the network sinks.
#include "sinks/tls.hpp"

#include <cerrno>

#include <spdlog/spdlog.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

namespace mw {

namespace {
std::string ssl_reason() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}
}  // namespace

Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsOptions& o) {
    auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
    SSL_CTX* h = ctx->native_handle();
    SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
    if (o.verify) {
        SSL_CTX_set_verify(h, SSL_VERIFY_PEER, nullptr);
        if (!o.ca_file.empty()) {
            if (SSL_CTX_load_verify_locations(h, o.ca_file.c_str(), nullptr) != 1)
                return make_error(fmt::format("tls: cannot load CA bundle {}: {}", o.ca_file, ssl_reason()));
        } else if (SSL_CTX_set_default_verify_paths(h) != 1) {
            return make_error(fmt::format("tls: cannot load the system trust store: {}", ssl_reason()));
        }
    } else {
        SSL_CTX_set_verify(h, SSL_VERIFY_NONE, nullptr);
    }
    if (!o.cert_file.empty() || !o.key_file.empty()) {
        if (o.cert_file.empty() || o.key_file.empty())
            return make_error("tls: client certificate and key must be given together");
        // Through asio: its context destructor owns (and deletes) the OpenSSL callback userdata.
        boost::system::error_code ec;
        ctx->set_password_callback(
            [pw = o.key_password](std::size_t, boost::asio::ssl::context::password_purpose) { return pw; }, ec);
        if (SSL_CTX_use_certificate_chain_file(h, o.cert_file.c_str()) != 1)
            return make_error(fmt::format("tls: cannot load client certificate {}: {}", o.cert_file, ssl_reason()));
        if (SSL_CTX_use_PrivateKey_file(h, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return make_error(fmt::format("tls: cannot load client key {}: {}", o.key_file, ssl_reason()));
        if (SSL_CTX_check_private_key(h) != 1)
            return make_error(fmt::format("tls: client key {} does not match certificate {}", o.key_file, o.cert_file));
    }
    return ctx;
}

Result<void> prepare_tls_connection(void* native, const TlsOptions& o, const std::string& host) {
    SSL* ssl = static_cast<SSL*>(native);
    const std::string& name = o.server_name.empty() ? host : o.server_name;
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
        return make_error(fmt::format("tls: cannot set SNI {}", name));
    if (o.verify) {
        // IP literals are checked against the certificate's IP SANs, names against DNS SANs.
        X509_VERIFY_PARAM* p = SSL_get0_param(ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(p, name.c_str()) != 1) {
            X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (X509_VERIFY_PARAM_set1_host(p, name.c_str(), name.size()) != 1)
                return make_error(fmt::format("tls: cannot set verified host {}", name));
        }
    }
    return {};
}

std::string tls_verify_failure(void* native) {
    SSL* ssl = static_cast<SSL*>(native);
    long r = SSL_get_verify_result(ssl);
    if (r == X509_V_OK) return {};
    return X509_verify_cert_error_string(r);
}

Result<std::shared_ptr<boost::asio::ssl::context>> make_sink_tls_context(const std::string& sink_name,
                                                                         TlsOptions& options) {
    options.enabled = true;
    auto ctx = make_tls_context(options);
    if (!ctx) return make_error("sinks: " + sink_name + ": " + ctx.error().message, EINVAL);
    if (!options.verify) spdlog::warn("sinks: {}: TLS peer verification is OFF (insecure_skip_verify)", sink_name);
    return ctx;
}

}  // namespace mw
