// Syslog delivery: RFC 5424 formatting, octet-counted stream framing, TLS peer checks.
#include "sinks/syslog_sink.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <spdlog/spdlog.h>

namespace mw {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

struct SyslogSink::Conn {
    std::optional<beast::tcp_stream> tcp;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    std::optional<asio::ip::udp::socket> udp;
    asio::ip::udp::endpoint udp_peer;
    bool dead = false;
    std::string why;
    char sink[256];
    void close() {
        boost::system::error_code ec;
        if (tls) beast::get_lowest_layer(*tls).socket().close(ec);
        if (tcp) tcp->socket().close(ec);
        if (udp) udp->close(ec);
        dead = true;
    }
};

namespace {
void append_sd_value(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '"' || c == '\\' || c == ']') out += '\\';  // RFC 5424 6.3.3
        out += c;
    }
}

void append_token(std::string& out, std::string_view v, std::size_t max) {
    // Header fields are PRINTUSASCII without spaces; "-" when empty.
    std::size_t n = 0;
    for (char c : v)
        if (c > 32 && c < 127 && n < max) {
            out += c;
            ++n;
        }
    if (n == 0) out += '-';
}
}  // namespace

void append_syslog_message(std::string& out, const SpoolRecord& r, const SyslogOptions& o, std::string_view procid) {
    const int severity = r.kind == EventKind::Alert ? 4 : 6;
    out += fmt::format("<{}>1 ", o.facility * 8 + severity);
    out += format_rfc3339(r.timestamp_ns);
    out += ' ';
    append_token(out, o.hostname, 255);
    out += ' ';
    append_token(out, o.app_name, 48);
    out += ' ';
    append_token(out, procid, 128);
    out += r.kind == EventKind::Alert ? " alert " : " event ";
    // 32473 is IANA's enterprise number reserved for documentation (RFC 5612).
    out += "[modelwarden@32473 id=\"";
    append_sd_value(out, r.event_id);
    out += fmt::format("\" seq=\"{}\"] ", r.sequence);
    out += r.json;
}

Result<std::unique_ptr<SyslogSink>> SyslogSink::create(asio::io_context& io, Spool& spool, SyslogOptions o) {
    if (o.host.empty()) return make_error("sinks: " + o.name + ": no syslog host configured", EINVAL);
    if (o.facility < 0 || o.facility > 23) return make_error("sinks: " + o.name + ": facility must be 0..23", EINVAL);
    if (o.hostname.empty()) {
        char h[256] = {};
        ::gethostname(h, sizeof h - 1);
        o.hostname = h;
    }
    std::shared_ptr<asio::ssl::context> ctx;
    if (o.transport == SyslogTransport::Tls) {
        auto c = make_sink_tls_context(o.name, o.tls);
        if (!c) return c.error();
        ctx = *c;
    }
    return std::unique_ptr<SyslogSink>(new SyslogSink(io, spool, std::move(o), ctx));
}

SyslogSink::SyslogSink(asio::io_context& io, Spool& spool, SyslogOptions o, std::shared_ptr<asio::ssl::context> ctx)
    : SpoolSink(io, spool, o.name, o.batch, o.retry, o.dead_letter_path),
      opt_(std::move(o)),
      ctx_(std::move(ctx)),
      procid_(std::to_string(::getpid())) {}

SyslogSink::~SyslogSink() {
    if (conn_) conn_->close();
}

void SyslogSink::on_stop() {
    if (conn_) conn_->close();
}

asio::awaitable<Result<void>> SyslogSink::connect() {
    if (conn_) conn_->close();
    auto c = std::make_shared<Conn>();
    boost::system::error_code ec;
    if (opt_.transport == SyslogTransport::Udp) {
        udp::resolver res(io_);
        auto eps = co_await res.async_resolve(opt_.host, opt_.port, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || eps.empty())
            co_return make_error(fmt::format("resolve {}: {}", opt_.host, ec.message()), int(1));
        c->udp_peer = *eps.begin();
        c->udp.emplace(io_);
        c->udp->open(c->udp_peer.protocol(), ec);
        if (ec) co_return make_error(fmt::format("udp socket: {}", ec.message()), 1);
        conn_ = c;
        co_return Result<void>{};
    }
    tcp::resolver res(io_);
    auto eps = co_await res.async_resolve(opt_.host, opt_.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return make_error(fmt::format("resolve {}: {}", opt_.host, ec.message()), 1);
    if (opt_.transport == SyslogTransport::Tcp) {
        c->tcp.emplace(io_);
        c->tcp->expires_after(opt_.timeout);
        co_await c->tcp->async_connect(eps, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return make_error(fmt::format("connect {}:{}: {}", opt_.host, opt_.port, ec.message()), 1);
        c->tcp->expires_never();
        conn_ = c;
        co_return Result<void>{};
    }
    c->tls.emplace(io_, *ctx_);
    if (auto r = prepare_tls_connection(c->tls->native_handle(), opt_.tls, opt_.host); !r)
        co_return make_error(r.error().message, 2);
    auto& low = beast::get_lowest_layer(*c->tls);
    low.expires_after(opt_.timeout);
    co_await low.async_connect(eps, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return make_error(fmt::format("connect {}:{}: {}", opt_.host, opt_.port, ec.message()), 1);
    low.expires_after(opt_.timeout);
    co_await c->tls->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        std::string why = tls_verify_failure(c->tls->native_handle());
        co_return make_error(fmt::format("tls handshake with {}:{} failed: {}: refusing to send", opt_.host, opt_.port,
                                         why.empty() ? ec.message() : "cannot verify peer: " + why),
                             2);
    }
    low.expires_never();
    // A syslog server never sends application data: any read completion means it refused or closed us.
    asio::co_spawn(
        io_,
        [c]() -> asio::awaitable<void> {
            boost::system::error_code rec;
            co_await c->tls->async_read_some(asio::buffer(c->sink), asio::redirect_error(asio::use_awaitable, rec));
            c->why = rec ? rec.message() : "unexpected data from the server";
            c->dead = true;
        },
        asio::detached);
    asio::steady_timer settle(io_);
    settle.expires_after(opt_.tls_settle);
    co_await settle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (c->dead) {
        c->close();
        co_return make_error(fmt::format("tls: {}:{} refused the session after the handshake ({}): check the client "
                                         "certificate",
                                         opt_.host, opt_.port, c->why),
                             2);
    }
    conn_ = c;
    co_return Result<void>{};
}

asio::awaitable<BatchOutcome> SyslogSink::send(std::span<const SpoolRecord* const> batch) {
    BatchOutcome out;
    auto keep_all = [&](std::string why) {
        for (std::uint32_t i = 0; i < batch.size(); ++i) out.resend.push_back(i);
        out.reason = std::move(why);
    };
    if (!conn_ || conn_->dead) {
        auto r = co_await connect();
        if (!r) {
            (r.error().code == 2 ? stats_.errors_tls : stats_.errors_network)++;
            spdlog::error("sinks: {}: {}", name(), r.error().message);
            keep_all(r.error().message);
            co_return out;
        }
    }
    auto c = conn_;
    boost::system::error_code ec;
    if (c->udp) {
        for (std::uint32_t i = 0; i < batch.size(); ++i) {
            msg_.clear();
            append_syslog_message(msg_, *batch[i], opt_, procid_);
            if (msg_.size() > opt_.max_udp_bytes) {
                out.dead.emplace_back(i, fmt::format("{} bytes exceed the UDP limit of {}", msg_.size(),
                                                     opt_.max_udp_bytes));
                continue;
            }
            co_await c->udp->async_send_to(asio::buffer(msg_), c->udp_peer,
                                           asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                stats_.errors_network++;
                for (std::uint32_t j = i; j < batch.size(); ++j) out.resend.push_back(j);
                out.reason = "udp send: " + ec.message();
                c->close();
                co_return out;
            }
        }
        co_return out;
    }
    buf_.clear();
    for (auto* r : batch) {
        msg_.clear();
        append_syslog_message(msg_, *r, opt_, procid_);
        buf_ += std::to_string(msg_.size());  // RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG
        buf_ += ' ';
        buf_ += msg_;
    }
    if (c->tls) {
        beast::get_lowest_layer(*c->tls).expires_after(opt_.timeout);
        co_await asio::async_write(*c->tls, asio::buffer(buf_), asio::redirect_error(asio::use_awaitable, ec));
    } else {
        c->tcp->expires_after(opt_.timeout);
        co_await asio::async_write(*c->tcp, asio::buffer(buf_), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || c->dead) {
        stats_.errors_network++;
        std::string why = ec ? ec.message() : c->why;
        spdlog::error("sinks: {}: write to {}:{} failed: {}", name(), opt_.host, opt_.port, why);
        c->close();
        keep_all("write: " + why);
    }
    co_return out;
}

}  // namespace mw
