// Control API server: JSON over HTTP on a root-only Unix socket (SO_PEERCRED uid 0 = operator)
// and, optionally, on TCP with mutual TLS 1.3 (client certificate from the configured CA,
// CRL-checked, role from the certificate). Runs on the caller's io_context.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/result.hpp"
#include "control/authz.hpp"
#include "control/handler.hpp"

namespace mw {

class AuditLog;

struct TlsListenerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8443;          // 0 = any free port (see ControlServer::tls_port())
    std::string cert_file;              // server certificate chain (PEM)
    std::string key_file;               // server private key (PEM)
    std::string ca_file;                // the only CA whose client certificates are accepted
    std::string crl_file;               // CRL of that CA (PEM); required: revocation must be checkable
    RoleMapping roles;
};

struct ControlOptions {
    std::string unix_socket_path;                   // "" = no Unix socket
    std::optional<TlsListenerOptions> tls;          // absent = no TCP listener
    std::function<void(const RefusedCall&)> on_refused;
    AuditLog* audit = nullptr;                      // every call and every refusal is recorded when set
    std::function<std::string()> metrics_text;      // GET /v1/metrics (Prometheus text); absent = 404
    std::size_t max_body_bytes = 1 << 20;           // policy bundles larger than this get 413
};

// Routes one request for an authenticated caller. Exposed for tests and for embedding.
struct ControlReply {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string refused_reason;  // set when the call was refused for lack of role (403): audited and reported
};
ControlReply route_control_request(ControlHandler& handler, const ControlOptions& options, const Caller& caller,
                                   std::string_view method, std::string_view target, std::string_view body,
                                   std::string_view signature);

class ControlServer {
public:
    ControlServer(boost::asio::io_context& io, ControlHandler& handler, ControlOptions options);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Opens the configured listeners. Errors name the path/address and the errno or OpenSSL text.
    Result<void> start();
    void stop();
    std::uint16_t tls_port() const;

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace mw
