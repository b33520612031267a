// Beast implementation of the metrics endpoint: one small session per connection, keep-alive,
// bounded header size and a read/write timeout so a slow client cannot pin a socket.
#include "metrics/http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

namespace mw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct MetricsServer::State : std::enable_shared_from_this<MetricsServer::State> {
    asio::io_context& io;
    MetricsRegistry& registry;
    MetricsServerOptions options;
    tcp::acceptor acceptor;
    std::uint16_t bound_port = 0;
    std::atomic<bool> running{false};  // stop() may be called from another thread

    State(asio::io_context& i, MetricsRegistry& r, MetricsServerOptions o)
        : io(i), registry(r), options(std::move(o)), acceptor(i) {}

    http::response<http::string_body> respond(const http::request<http::string_body>& req) {
        http::response<http::string_body> res;
        res.version(req.version());
        res.keep_alive(req.keep_alive());
        res.set(http::field::server, "modelwarden");
        auto reply = [&](http::status s, std::string body, std::string_view type = "text/plain; charset=utf-8") {
            res.result(s);
            res.set(http::field::content_type, type);
            res.body() = std::move(body);
        };
        std::string_view target = req.target();
        if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
            reply(http::status::method_not_allowed, "method not allowed\n");
            res.set(http::field::allow, "GET, HEAD");
        } else if (target == "/metrics") {
            reply(http::status::ok, registry.expose(), "text/plain; version=0.0.4; charset=utf-8");
        } else if (target == "/healthz") {
            bool ok = !options.healthy || options.healthy();
            reply(ok ? http::status::ok : http::status::service_unavailable, ok ? "ok\n" : "unhealthy\n");
        } else if (target == "/readyz") {
            bool ok = !options.ready || options.ready();
            reply(ok ? http::status::ok : http::status::service_unavailable, ok ? "ready\n" : "not ready\n");
        } else {
            reply(http::status::not_found, "not found\n");
        }
        res.prepare_payload();
        if (req.method() == http::verb::head) res.body().clear();
        return res;
    }

    struct Session : std::enable_shared_from_this<Session> {
        std::shared_ptr<State> server;
        beast::tcp_stream stream;
        beast::flat_buffer buffer{8192};
        std::unique_ptr<http::request_parser<http::string_body>> parser;
        http::response<http::string_body> response;

        Session(std::shared_ptr<State> s, tcp::socket sock) : server(std::move(s)), stream(std::move(sock)) {}

        void read() {
            parser = std::make_unique<http::request_parser<http::string_body>>();
            parser->header_limit(8 * 1024);
            parser->body_limit(4 * 1024);  // scrapes are GETs: no body worth reading
            stream.expires_after(std::chrono::seconds(10));
            http::async_read(stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                self->on_read(ec);
            });
        }

        void on_read(beast::error_code ec) {
            if (ec == http::error::end_of_stream) {
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                return;
            }
            if (ec) {
                if (ec != asio::error::operation_aborted && ec != beast::error::timeout)
                    spdlog::debug("metrics: read from scraper failed: {}", ec.message());
                return;
            }
            response = server->respond(parser->get());
            stream.expires_after(std::chrono::seconds(10));
            http::async_write(stream, response, [self = shared_from_this()](beast::error_code wec, std::size_t) {
                if (wec) return;
                if (!self->response.keep_alive()) {
                    beast::error_code ignored;
                    self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                    return;
                }
                self->read();
            });
        }
    };

    void accept() {
        acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket sock) {
            if (!self->running) return;
            if (ec) {
                if (ec == asio::error::operation_aborted) return;
                spdlog::warn("metrics: accept failed: {}", ec.message());
            } else {
                std::make_shared<Session>(self, std::move(sock))->read();
            }
            self->accept();
        });
    }
};

MetricsServer::MetricsServer(asio::io_context& io, MetricsRegistry& registry, MetricsServerOptions options)
    : state_(std::make_shared<State>(io, registry, std::move(options))) {}

MetricsServer::~MetricsServer() { stop(); }

Result<void> MetricsServer::start() {
    auto& s = *state_;
    beast::error_code ec;
    auto addr = asio::ip::make_address(s.options.address, ec);
    if (ec) return make_error("metrics: invalid listen address '" + s.options.address + "': " + ec.message());
    if (!addr.is_loopback() && !s.options.allow_non_loopback)
        return make_error("metrics: refusing non-loopback listen address " + s.options.address +
                          " (set allow_non_loopback to expose metrics off-host)");
    tcp::endpoint ep(addr, s.options.port);
    std::string where = s.options.address + ":" + std::to_string(s.options.port);
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        beast::error_code ignored;
        s.acceptor.close(ignored);
        return make_error("metrics: cannot listen on " + where + ": " + ec.message(), ec.value());
    }
    s.bound_port = s.acceptor.local_endpoint().port();
    s.running = true;
    s.accept();
    spdlog::info("metrics: serving /metrics on {}:{}", s.options.address, s.bound_port);
    return {};
}

void MetricsServer::stop() {
    if (!state_ || !state_->running) return;
    state_->running = false;
    // Close from the io_context's thread: the acceptor is not thread-safe.
    asio::post(state_->io, [s = state_] {
        beast::error_code ignored;
        s->acceptor.close(ignored);
    });
}

std::uint16_t MetricsServer::port() const { return state_->bound_port; }

}  // namespace mw
