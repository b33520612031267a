// Coroutine HTTP/1.1 client over Boost.Beast for the HEC and _bulk sinks.
#include "sinks/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<Url> parse_url(std::string_view s) {
    Url u;
    if (s.starts_with("https://")) {
        u.tls = true;
        s.remove_prefix(8);
    } else if (s.starts_with("http://")) {
        s.remove_prefix(7);
    } else {
        return make_error(fmt::format("url '{}': must start with http:// or https://", s), EINVAL);
    }
    auto slash = s.find('/');
    std::string_view hostport = s.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : s.substr(slash);
    while (path.ends_with('/')) path.remove_suffix(1);
    u.path = std::string(path);
    if (hostport.starts_with('[')) {
        auto close = hostport.find(']');
        if (close == std::string_view::npos) return make_error(fmt::format("url '{}': unterminated IPv6 literal", s), EINVAL);
        u.host = std::string(hostport.substr(1, close - 1));
        hostport.remove_prefix(close + 1);
        if (hostport.starts_with(':')) u.port = std::string(hostport.substr(1));
    } else {
        auto colon = hostport.rfind(':');
        u.host = std::string(hostport.substr(0, colon));
        if (colon != std::string_view::npos) u.port = std::string(hostport.substr(colon + 1));
    }
    if (u.host.empty()) return make_error(fmt::format("url '{}': no host", s), EINVAL);
    if (u.port.empty()) u.port = u.tls ? "443" : "80";
    if (u.port.find_first_not_of("0123456789") != std::string::npos || u.port.size() > 5)
        return make_error(fmt::format("url '{}': bad port '{}'", s, u.port), EINVAL);
    return u;
}

HttpClient::HttpClient(asio::io_context& io, Url url, const TlsOptions& tls, std::shared_ptr<asio::ssl::context> ctx,
                       std::chrono::milliseconds timeout)
    : io_(io), url_(std::move(url)), tls_opt_(tls), ctx_(std::move(ctx)), timeout_(timeout) {}

void HttpClient::close() {
    boost::system::error_code ec;
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ec);
    if (tcp_) tcp_->socket().close(ec);
    tls_.reset();
    tcp_.reset();
    connected_ = false;
}

asio::awaitable<Result<void>> HttpClient::connect() {
    close();
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(io_);
    auto endpoints = co_await resolver.async_resolve(url_.host, url_.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
        co_return make_error(fmt::format("resolve {}: {}", url_.host, ec.message()), int(NetErrorClass::Network));
    if (url_.tls) {
        tls_.emplace(io_, *ctx_);
        if (auto r = prepare_tls_connection(tls_->native_handle(), tls_opt_, url_.host); !r)
            co_return make_error(r.error().message, int(NetErrorClass::Tls));
        auto& low = beast::get_lowest_layer(*tls_);
        low.expires_after(timeout_);
        co_await low.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
            co_return make_error(fmt::format("connect {}:{}: {}", url_.host, url_.port, ec.message()),
                                 int(NetErrorClass::Network));
        low.expires_after(timeout_);
        co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            std::string why = tls_verify_failure(tls_->native_handle());
            co_return make_error(fmt::format("tls handshake with {}:{} failed{}{}: refusing to send", url_.host,
                                             url_.port, why.empty() ? ": " + ec.message() : ": cannot verify peer: ",
                                             why),
                                 int(NetErrorClass::Tls));
        }
    } else {
        tcp_.emplace(io_);
        tcp_->expires_after(timeout_);
        co_await tcp_->async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
            co_return make_error(fmt::format("connect {}:{}: {}", url_.host, url_.port, ec.message()),
                                 int(NetErrorClass::Network));
    }
    connected_ = true;
    co_return Result<void>{};
}

asio::awaitable<Result<HttpResponse>> HttpClient::request(HttpRequest& req) {
    req.set(http::field::host, url_.host);
    req.keep_alive(true);
    req.prepare_payload();
    // A kept-alive connection may have been closed by the server meanwhile: one fresh retry.
    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool reused = connected_;
        if (!connected_) {
            auto c = co_await connect();
            if (!c) co_return c.error();
        }
        boost::system::error_code ec;
        HttpResponse res;
        buf_.clear();
        if (tls_) {
            beast::get_lowest_layer(*tls_).expires_after(timeout_);
            co_await http::async_write(*tls_, req, asio::redirect_error(asio::use_awaitable, ec));
            if (!ec) co_await http::async_read(*tls_, buf_, res, asio::redirect_error(asio::use_awaitable, ec));
        } else {
            tcp_->expires_after(timeout_);
            co_await http::async_write(*tcp_, req, asio::redirect_error(asio::use_awaitable, ec));
            if (!ec) co_await http::async_read(*tcp_, buf_, res, asio::redirect_error(asio::use_awaitable, ec));
        }
        if (ec) {
            close();
            if (reused && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                           ec == asio::error::eof || ec == asio::error::broken_pipe))
                continue;
            co_return make_error(fmt::format("{} {}:{}{}: {}", req.method_string(), url_.host, url_.port,
                                             req.target(), ec.message()),
                                 int(NetErrorClass::Network));
        }
        if (!res.keep_alive()) close();
        co_return res;
    }
    co_return make_error(fmt::format("{}:{}: connection closed twice", url_.host, url_.port),
                         int(NetErrorClass::Network));
}

}  // namespace mw
