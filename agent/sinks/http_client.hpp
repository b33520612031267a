// HttpClient: one keep-alive HTTP/1.1 connection (plain or TLS) driven by C++20 coroutines on
// the daemon's io_context. Connection failures, TLS verification failures and timeouts come
// back as errors (never exceptions) with a class the sinks count.
#pragma once

#include <chrono>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "common/result.hpp"
#include "sinks/tls.hpp"

namespace mw {

struct Url {
    bool tls = false;
    std::string host;
    std::string port;
    std::string path;  // without trailing '/'
};
// http(s)://host[:port][/path]; IPv6 literals in brackets.
Result<Url> parse_url(std::string_view url);

enum class NetErrorClass : int { Network = 1, Tls = 2 };

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

class HttpClient {
public:
    // `tls` must outlive the client (the sink owns both).
    HttpClient(boost::asio::io_context& io, Url url, const TlsOptions& tls,
               std::shared_ptr<boost::asio::ssl::context> ctx, std::chrono::milliseconds timeout);
    // Sends `req` (host header filled in), reconnecting if needed. Error.code = NetErrorClass.
    boost::asio::awaitable<Result<HttpResponse>> request(HttpRequest& req);
    void close();
    const Url& url() const { return url_; }

private:
    boost::asio::awaitable<Result<void>> connect();
    boost::asio::io_context& io_;
    Url url_;
    const TlsOptions& tls_opt_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
    std::chrono::milliseconds timeout_;
    std::optional<boost::beast::tcp_stream> tcp_;
    std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
    boost::beast::flat_buffer buf_;
    bool connected_ = false;
    std::string last_connect_error_;
};

}  // namespace mw
