// Control API server: routing and authorization shared by both transports, the Unix-socket
// listener (peer credentials) and the mutual-TLS 1.3 listener (client certificate roles).
#include "control/server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "audit/audit_log.hpp"

namespace mw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;
using UnixStream = beast::basic_stream<unix_proto>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

PeerAddress peer_address_of(const boost::asio::ip::tcp::endpoint& remote) {
    PeerAddress p;
    p.port = remote.port();
    if (remote.address().is_v4()) {
        const auto b = remote.address().to_v4().to_bytes();
        std::copy(b.begin(), b.end(), p.addr.begin());
        p.family = AF_INET;
    } else {
        const auto b = remote.address().to_v6().to_bytes();
        std::copy(b.begin(), b.end(), p.addr.begin());
        p.family = AF_INET6;
    }
    return p;
}

constexpr auto kIoTimeout = std::chrono::seconds(30);

std::string json_error(std::string_view message) { return nlohmann::json{{"error", message}}.dump(); }

ControlReply error_reply(unsigned status, std::string_view message) { return {status, "application/json", json_error(message), {}}; }

std::string percent_decode(std::string_view s, bool& ok) {
    std::string out;
    ok = true;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') out.push_back(' ');
        else if (s[i] == '%') {
            unsigned v = 0;
            if (i + 2 >= s.size()) { ok = false; return out; }
            auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (r.ec != std::errc() || r.ptr != s.data() + i + 3) { ok = false; return out; }
            out.push_back(static_cast<char>(v));
            i += 2;
        } else out.push_back(s[i]);
    }
    return out;
}

Result<EventsQuery> parse_events_query(std::string_view query) {
    EventsQuery q;
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        bool ok = true;
        std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), ok);
        if (!ok) return make_error("malformed percent-encoding in query parameter " + std::string(key), 400);
        auto parse_u64 = [&](std::uint64_t& out) {
            auto r = std::from_chars(value.data(), value.data() + value.size(), out);
            return !value.empty() && r.ec == std::errc() && r.ptr == value.data() + value.size();
        };
        if (key == "since") {
            std::uint64_t v = 0;
            if (!parse_u64(v)) return make_error("since must be an unsigned integer", 400);
            q.since = v;
        } else if (key == "kind") {
            if (value.empty() || value.size() > 64) return make_error("kind must be 1 to 64 characters", 400);
            for (char c : value)
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
                    return make_error("kind may contain only a-z, 0-9, '_', '.' and '-'", 400);
            q.kind = value;
        } else if (key == "limit") {
            std::uint64_t v = 0;
            if (!parse_u64(v) || v < 1 || v > 1000) return make_error("limit must be an integer from 1 to 1000", 400);
            q.limit = static_cast<std::uint32_t>(v);
        } else {
            return make_error("unknown query parameter " + std::string(key), 400);
        }
    }
    return q;
}

ControlReply from_result(const Result<std::string>& r) {
    if (r) return {200, "application/json", r.value(), {}};
    unsigned status = (r.error().code >= 400 && r.error().code <= 599) ? static_cast<unsigned>(r.error().code) : 500;
    return error_reply(status, r.error().message);
}

struct RouteEntry {
    std::string_view method;
    std::string_view path;
    Permission permission;
};

constexpr RouteEntry kRoutes[] = {
    {"GET", "/v1/status", Permission::ReadStatus},
    {"GET", "/v1/events", Permission::ReadStatus},
    {"GET", "/v1/metrics", Permission::ReadStatus},
    {"GET", "/v1/policies", Permission::ReadPolicies},
    {"POST", "/v1/policies", Permission::WritePolicies},
    {"POST", "/v1/policies/rollback", Permission::WritePolicies},
    // thaw/release undo an enforcement: the same operator-only permission as a policy change
    {"POST", "/v1/enforcement/thaw", Permission::WritePolicies},
    {"POST", "/v1/enforcement/release", Permission::WritePolicies},
};

}  // namespace

ControlReply route_control_request(ControlHandler& handler, const ControlOptions& options, const Caller& caller,
                                   std::string_view method, std::string_view target, std::string_view body,
                                   std::string_view signature) {
    std::string_view path = target, query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
    auto refuse = [](std::string reason) {
        ControlReply r = error_reply(403, "forbidden: " + reason);
        r.refused_reason = std::move(reason);
        return r;
    };
    if (caller.role == Role::None) return refuse("the caller has no modelwarden role");
    const RouteEntry* route = nullptr;
    bool path_known = false;
    for (const auto& r : kRoutes) {
        if (r.path != path) continue;
        path_known = true;
        if (r.method == method) route = &r;
    }
    if (!path_known) return error_reply(404, "no such endpoint");
    if (!route) return error_reply(405, "method not allowed");
    if (!role_allows(caller.role, route->permission))
        return refuse("role " + std::string(role_name(caller.role)) + " may not " + std::string(method) + " " +
                      std::string(path));
    if (path == "/v1/status") return from_result(handler.status_json());
    if (path == "/v1/events") {
        auto q = parse_events_query(query);
        if (!q) return error_reply(400, q.error().message);
        return from_result(handler.events_json(q.value()));
    }
    if (path == "/v1/metrics") {
        if (!options.metrics_text) return error_reply(404, "metrics are not served on the control API");
        return {200, "text/plain; version=0.0.4; charset=utf-8", options.metrics_text(), {}};
    }
    if (path == "/v1/policies" && method == "GET") return from_result(handler.list_policies());
    if (path == "/v1/policies") {
        if (body.empty()) return error_reply(400, "the request body must be the policy YAML bundle");
        return from_result(handler.apply_policy(body, signature, caller));
    }
    if (path == "/v1/enforcement/thaw" || path == "/v1/enforcement/release")
        return from_result(handler.lift_enforcement(path.substr(path.rfind('/') + 1), body, caller));
    return from_result(handler.rollback(caller));
}

struct ControlServer::State : std::enable_shared_from_this<ControlServer::State> {
    asio::io_context& io;
    ControlHandler& handler;
    ControlOptions options;
    std::optional<unix_proto::acceptor> unix_acceptor;
    std::optional<tcp::acceptor> tls_acceptor;
    std::optional<ssl::context> ssl_ctx;
    std::uint16_t bound_tls_port = 0;
    std::atomic<bool> running{false};  // stop() may be called from another thread

    State(asio::io_context& i, ControlHandler& h, ControlOptions o) : io(i), handler(h), options(std::move(o)) {}

    void audit(const Caller& caller, std::string_view action, std::string_view object, nlohmann::json details) {
        if (!options.audit) return;
        details["transport"] = caller.transport;
        details["peer"] = caller.peer;
        details["role"] = std::string(role_name(caller.role));
        auto r = options.audit->append(caller.identity.empty() ? "unauthenticated" : caller.identity, action, object,
                                       std::move(details));
        if (!r) spdlog::error("control: audit append for {} failed: {}", object, r.error().message);
    }

    void refuse(const RefusedCall& call, const Caller& caller) {
        spdlog::warn("control: refused {} from {} ({}): {}",
                     call.method.empty() ? call.transport + " connection" : call.method + " " + call.target, call.peer,
                     call.identity.empty() ? "no identity" : call.identity, call.reason);
        audit(caller, "api.refused", call.method.empty() ? call.transport : call.method + " " + call.target,
              {{"reason", call.reason}});
        if (options.on_refused) options.on_refused(call);
    }

    // `user`: the client certificate's CN, for the refusal alert ("" for Unix peers).
    http::response<http::string_body> handle(const Caller& caller, const std::string& user,
                                             const http::request<http::string_body>& req) {
        std::string method(req.method_string());
        std::string target(req.target());
        std::string signature(req["X-Modelwarden-Signature"]);
        ControlReply reply = route_control_request(handler, options, caller, method, target, req.body(), signature);
        std::string path = target.substr(0, target.find('?'));
        if (!reply.refused_reason.empty()) {
            refuse(RefusedCall{caller.transport, caller.peer, caller.identity, method, path, reply.refused_reason, user,
                               caller.peer_address},
                   caller);
        } else {
            audit(caller, "api.call", method + " " + path, {{"status", reply.status}});
        }
        http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
        res.set(http::field::server, "modelwarden");
        res.set(http::field::content_type, reply.content_type);
        res.keep_alive(req.keep_alive());
        res.body() = std::move(reply.body);
        res.prepare_payload();
        return res;
    }

    template <class Stream>
    struct Session : std::enable_shared_from_this<Session<Stream>> {
        std::shared_ptr<State> server;
        Stream stream;
        Caller caller;
        std::string user;  // the client certificate's CN (TLS only)
        beast::flat_buffer buffer;
        std::optional<http::request_parser<http::string_body>> parser;
        http::response<http::string_body> response;

        Session(std::shared_ptr<State> s, Stream st) : server(std::move(s)), stream(std::move(st)) {}

        void read() {
            parser.emplace();
            parser->header_limit(16 * 1024);
            parser->body_limit(server->options.max_body_bytes);
            beast::get_lowest_layer(stream).expires_after(kIoTimeout);
            http::async_read(stream, buffer, *parser,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
        }

        void on_read(beast::error_code ec) {
            if (ec == http::error::end_of_stream) return finish();
            if (ec == http::error::body_limit) {
                http::response<http::string_body> res{http::status::payload_too_large, 11};
                res.set(http::field::content_type, "application/json");
                res.body() = json_error("request body exceeds " + std::to_string(server->options.max_body_bytes) + " bytes");
                res.keep_alive(false);
                res.prepare_payload();
                return write(std::move(res));
            }
            if (ec) {
                if (ec != asio::error::operation_aborted)
                    spdlog::debug("control: read from {} failed: {}", caller.peer, ec.message());
                return;
            }
            write(server->handle(caller, user, parser->get()));
        }

        void write(http::response<http::string_body> res) {
            response = std::move(res);
            beast::get_lowest_layer(stream).expires_after(kIoTimeout);
            http::async_write(stream, response, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                if (ec) return;
                if (!self->response.keep_alive()) return self->finish();
                self->read();
            });
        }

        void finish() {
            beast::error_code ignored;
            if constexpr (std::is_same_v<Stream, TlsStream>) {
                beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
                stream.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
            } else {
                stream.socket().shutdown(unix_proto::socket::shutdown_send, ignored);
            }
        }
    };

    Result<void> open_unix() {
        const std::string& path = options.unix_socket_path;
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0) {
            // Only a stale socket of ours may be replaced; never unlink a file someone put there.
            if (!S_ISSOCK(st.st_mode)) return make_error("control: " + path + " exists and is not a socket");
            if (::unlink(path.c_str()) != 0)
                return make_error("control: cannot remove stale socket " + path + ": " + std::strerror(errno), errno);
        }
        beast::error_code ec;
        unix_acceptor.emplace(io);
        unix_acceptor->open(unix_proto(), ec);
        if (!ec) unix_acceptor->bind(unix_proto::endpoint(path), ec);
        if (ec) return make_error("control: cannot bind " + path + ": " + ec.message(), ec.value());
        // Peer credentials are checked on every connection too, so the instant between bind
        // and chmod cannot be used to act: a non-root peer gets 403.
        if (::chmod(path.c_str(), 0600) != 0)
            return make_error("control: cannot chmod 0600 " + path + ": " + std::strerror(errno), errno);
        unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return make_error("control: cannot listen on " + path + ": " + ec.message(), ec.value());
        return {};
    }

    Result<void> open_tls() {
        const auto& t = *options.tls;
        if (t.cert_file.empty() || t.key_file.empty() || t.ca_file.empty() || t.crl_file.empty())
            return make_error("control: tls listener needs cert_file, key_file, ca_file and crl_file");
        ssl_ctx.emplace(ssl::context::tls_server);
        SSL_CTX* ctx = ssl_ctx->native_handle();
        // TLS 1.3 only: no downgrade to suites or renegotiation that 1.2 still allows.
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
        beast::error_code ec;
        ssl_ctx->use_certificate_chain_file(t.cert_file, ec);
        if (ec) return make_error("control: cannot load server certificate " + t.cert_file + ": " + ec.message());
        ssl_ctx->use_private_key_file(t.key_file, ssl::context::pem, ec);
        if (ec) return make_error("control: cannot load server key " + t.key_file + ": " + ec.message());
        ssl_ctx->load_verify_file(t.ca_file, ec);
        if (ec) return make_error("control: cannot load client CA " + t.ca_file + ": " + ec.message());
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (!lookup || X509_load_crl_file(lookup, t.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
            ERR_clear_error();
            return make_error("control: cannot load CRL " + t.crl_file);
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
        ssl_ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);

        auto addr = asio::ip::make_address(t.address, ec);
        if (ec) return make_error("control: invalid tls listen address '" + t.address + "': " + ec.message());
        tcp::endpoint ep(addr, t.port);
        tls_acceptor.emplace(io);
        tls_acceptor->open(ep.protocol(), ec);
        if (!ec) tls_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) tls_acceptor->bind(ep, ec);
        if (!ec) tls_acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            return make_error("control: cannot listen on " + t.address + ":" + std::to_string(t.port) + ": " + ec.message(),
                              ec.value());
        bound_tls_port = tls_acceptor->local_endpoint().port();
        return {};
    }

    void accept_unix() {
        unix_acceptor->async_accept([self = shared_from_this()](beast::error_code ec, unix_proto::socket sock) {
            if (!self->running || ec == asio::error::operation_aborted) return;
            if (!ec) {
                Caller caller;
                caller.transport = "unix";
                ucred cred{};
                socklen_t len = sizeof cred;
                if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
                    caller.identity = "uid:" + std::to_string(cred.uid);
                    caller.peer = "pid:" + std::to_string(cred.pid);
                    caller.role = cred.uid == 0 ? Role::Operator : Role::None;
                } else {
                    spdlog::warn("control: SO_PEERCRED on {} failed: {}", self->options.unix_socket_path, std::strerror(errno));
                }
                auto s = std::make_shared<Session<UnixStream>>(self, UnixStream(std::move(sock)));
                s->caller = std::move(caller);
                s->read();
            } else {
                spdlog::warn("control: accept on {} failed: {}", self->options.unix_socket_path, ec.message());
            }
            self->accept_unix();
        });
    }

    void accept_tls() {
        tls_acceptor->async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket sock) {
            if (!self->running || ec == asio::error::operation_aborted) return;
            if (ec) {
                spdlog::warn("control: tls accept failed: {}", ec.message());
                return self->accept_tls();
            }
            beast::error_code ep_ec;
            auto remote = sock.remote_endpoint(ep_ec);
            std::string peer = ep_ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
            auto s = std::make_shared<Session<TlsStream>>(self, TlsStream(beast::tcp_stream(std::move(sock)), *self->ssl_ctx));
            s->caller.transport = "tls";
            s->caller.peer = peer;
            if (!ep_ec) s->caller.peer_address = peer_address_of(remote);
            beast::get_lowest_layer(s->stream).expires_after(std::chrono::seconds(10));
            s->stream.async_handshake(ssl::stream_base::server, [s](beast::error_code hec) {
                SSL* ssl = s->stream.native_handle();
                if (hec) {
                    long vr = SSL_get_verify_result(ssl);
                    std::string reason = vr != X509_V_OK ? std::string("client certificate rejected: ") +
                                                               X509_verify_cert_error_string(vr)
                                                         : "tls handshake failed: " + hec.message();
                    s->server->refuse(RefusedCall{"tls", s->caller.peer, "", "", "", reason, "", s->caller.peer_address},
                                      s->caller);
                    return;
                }
                X509* cert = SSL_get1_peer_certificate(ssl);
                auto cr = role_from_certificate(cert, s->server->options.tls->roles);
                X509_free(cert);
                s->caller.role = cr.role;
                s->caller.identity = cr.identity;
                s->user = cr.common_name;
                s->read();
            });
            self->accept_tls();
        });
    }
};

ControlServer::ControlServer(asio::io_context& io, ControlHandler& handler, ControlOptions options)
    : state_(std::make_shared<State>(io, handler, std::move(options))) {}

ControlServer::~ControlServer() { stop(); }

Result<void> ControlServer::start() {
    auto& s = *state_;
    if (s.options.unix_socket_path.empty() && !s.options.tls)
        return make_error("control: neither a unix socket nor a tls listener is configured");
    if (!s.options.unix_socket_path.empty())
        if (auto r = s.open_unix(); !r) return r;
    if (s.options.tls)
        if (auto r = s.open_tls(); !r) return r;
    s.running = true;
    if (s.unix_acceptor) {
        s.accept_unix();
        spdlog::info("control: listening on unix socket {}", s.options.unix_socket_path);
    }
    if (s.tls_acceptor) {
        s.accept_tls();
        spdlog::info("control: listening for mutual tls 1.3 on {}:{}", s.options.tls->address, s.bound_tls_port);
    }
    return {};
}

void ControlServer::stop() {
    if (!state_ || !state_->running) return;
    state_->running = false;
    asio::post(state_->io, [s = state_] {
        beast::error_code ignored;
        if (s->unix_acceptor) {
            s->unix_acceptor->close(ignored);
            ::unlink(s->options.unix_socket_path.c_str());
        }
        if (s->tls_acceptor) s->tls_acceptor->close(ignored);
    });
}

std::uint16_t ControlServer::tls_port() const { return state_->bound_tls_port; }

}  // namespace mw
