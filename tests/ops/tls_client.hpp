// The control-API client side the ops tests share: the test PKI (make_test_pki.sh) and one
// mutual-TLS HTTP call on loopback with a chosen client certificate. Needs mw_boost.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace mw::test {

// Makes the test PKI (CA, server, role clients, other CA, expired, revoked, CRL) in pki_dir
// with tests/ops/make_test_pki.sh (MW_OPS_TEST_DIR); false when the script failed.
inline bool make_test_pki(const std::string& pki_dir) {
    std::filesystem::create_directories(pki_dir);
    const std::string cmd = std::string("bash ") + MW_OPS_TEST_DIR + "/make_test_pki.sh " + pki_dir + " >/dev/null";
    return std::system(cmd.c_str()) == 0;
}

struct TlsReply {
    bool connected = false;  // handshake and exchange completed
    unsigned status = 0;
    std::string body;
    std::string error;  // the step that failed and why ("" when connected)
};

// One HTTP/1.1 request over TLS to 127.0.0.1:port, verifying the server against pki/ca.crt.
// client names the certificate pki/<client>.crt + .key; "" = no client certificate at all.
inline TlsReply tls_call(const std::string& pki, std::uint16_t port, const std::string& client,
                         const std::string& method, const std::string& target, const std::string& body = {},
                         int max_version = TLS1_3_VERSION) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    namespace ssl = asio::ssl;
    TlsReply out;
    asio::io_context io;
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
    ctx.load_verify_file(pki + "/ca.crt");
    ctx.set_verify_mode(ssl::verify_peer);
    if (!client.empty()) {
        ctx.use_certificate_file(pki + "/" + client + ".crt", ssl::context::pem);
        ctx.use_private_key_file(pki + "/" + client + ".key", ssl::context::pem);
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    beast::error_code ec;
    beast::get_lowest_layer(stream).connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return out.error = "connect: " + ec.message(), out;
    stream.handshake(ssl::stream_base::client, ec);
    if (ec) return out.error = "handshake: " + ec.message(), out;
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) return out.error = "write: " + ec.message(), out;
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    // TLS 1.3: the server checks the client certificate after the client's handshake
    // returns, so a refused certificate shows up here as an alert.
    http::read(stream, buf, res, ec);
    if (ec) return out.error = "read: " + ec.message(), out;
    out.connected = true;
    out.status = res.result_int();
    out.body = res.body();
    return out;
}

}  // namespace mw::test
