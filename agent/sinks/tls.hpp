// TLS client settings shared by every network sink: verification on by default, CA bundle,
// client certificate (mutual TLS), and the host name the peer certificate must carry.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/result.hpp"

namespace mw {

struct TlsOptions {
    bool enabled = false;
    bool verify = true;            // false only with an explicit `insecure_skip_verify: true`
    std::string ca_file;           // empty = system trust store
    std::string cert_file;         // client certificate (PEM) for mutual TLS
    std::string key_file;
    std::string key_password;      // secret: never logged
    std::string server_name;       // SNI and verified name; empty = the URL host
};

// Builds a client context; errors name the file and OpenSSL's reason.
Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsOptions& options);

// For a sink whose transport is TLS: turns TLS on in `options`, builds the context, and warns
// when peer verification was switched off. Errors are prefixed with the sink's name.
Result<std::shared_ptr<boost::asio::ssl::context>> make_sink_tls_context(const std::string& sink_name,
                                                                         TlsOptions& options);

// Applies SNI and host-name verification to one connection's SSL handle.
Result<void> prepare_tls_connection(void* native_ssl, const TlsOptions& options, const std::string& host);

// OpenSSL's words for why the last handshake on this SSL handle failed verification ("" if it did not).
std::string tls_verify_failure(void* native_ssl);

}  // namespace mw
