// SyslogSink: RFC 5424 messages over TLS with RFC 5425 octet-counting framing (also plain TCP,
// RFC 6587 octet counting, and UDP, RFC 5426, one message per datagram) for legacy collectors.
#pragma once

#include <memory>
#include <string>

#include "sinks/sink.hpp"
#include "sinks/tls.hpp"

namespace mw {

enum class SyslogTransport : std::uint8_t { Tls, Tcp, Udp };

struct SyslogOptions {
    std::string name = "syslog";
    SyslogTransport transport = SyslogTransport::Tls;
    std::string host;
    std::string port = "6514";                   // RFC 5425's port
    int facility = 4;                            // security/authorization messages
    std::string app_name = "modelwarden";
    std::string hostname;                        // empty = this machine's host name
    std::size_t max_udp_bytes = 65000;           // larger messages are dead-lettered on UDP
    std::chrono::milliseconds timeout{30'000};
    // TLS 1.3 servers refuse a client certificate after the client's handshake has finished:
    // wait this long on a fresh connection for such an alert before sending anything.
    std::chrono::milliseconds tls_settle{200};
    TlsOptions tls;
    BatchOptions batch;
    RetryOptions retry;
    std::string dead_letter_path;
};

// One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG.
// Alerts are severity 4 (warning), telemetry 6 (informational); MSGID = "alert" | "event".
void append_syslog_message(std::string& out, const SpoolRecord& r, const SyslogOptions& o, std::string_view procid);

class SyslogSink final : public SpoolSink {
public:
    static Result<std::unique_ptr<SyslogSink>> create(boost::asio::io_context& io, Spool& spool, SyslogOptions o);
    ~SyslogSink() override;

private:
    struct Conn;
    SyslogSink(boost::asio::io_context& io, Spool& spool, SyslogOptions o,
               std::shared_ptr<boost::asio::ssl::context> ctx);
    boost::asio::awaitable<BatchOutcome> send(std::span<const SpoolRecord* const> batch) override;
    boost::asio::awaitable<Result<void>> connect();
    void on_stop() override;

    SyslogOptions opt_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
    std::shared_ptr<Conn> conn_;
    std::string procid_;
    std::string buf_, msg_;
};

}  // namespace mw
