// HecSink: Splunk HTTP Event Collector (/services/collector/event) with batching, gzip and
// indexer acknowledgement; status handling follows Splunk's documented HEC codes (issue 5).
#pragma once

#include <memory>
#include <string>

#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"
#include "sinks/tls.hpp"

namespace mw {

struct HecOptions {
    std::string name = "splunk";          // also the spool consumer name
    std::string url;                      // e.g. https://splunk.example:8088
    std::string token;                    // secret: never logged
    std::string host;                     // envelope host; empty = this machine's host name
    std::string source = "modelwarden";
    std::string sourcetype = "_json";
    std::string index;                    // empty = the token's default index
    bool ack = false;                     // indexer acknowledgement (token must have it enabled)
    std::string channel;                  // GUID; empty = random per process
    std::chrono::milliseconds ack_poll{1000};
    std::chrono::milliseconds ack_timeout{300'000};  // silence this long = resend the batch
    bool gzip = true;
    int gzip_level = 1;
    std::chrono::milliseconds timeout{30'000};
    bool ocsf = false;                    // `event` in OCSF 1.8.0 instead of ECS (see ocsf_encoder.hpp)
    TlsOptions tls;
    BatchOptions batch;
    RetryOptions retry;
    std::string dead_letter_path;
};

class HecSink final : public SpoolSink {
public:
    static Result<std::unique_ptr<HecSink>> create(boost::asio::io_context& io, Spool& spool, HecOptions options);
    const std::string& channel() const { return opt_.channel; }

private:
    HecSink(boost::asio::io_context& io, Spool& spool, HecOptions options, Url url,
            std::shared_ptr<boost::asio::ssl::context> ctx);
    boost::asio::awaitable<BatchOutcome> send(std::span<const SpoolRecord* const> batch) override;
    boost::asio::awaitable<void> send_range(std::span<const SpoolRecord* const> batch,
                                            std::vector<std::uint32_t> idx, BatchOutcome& out);
    // Polls /services/collector/ack until `ack_id` reads true; false = give up and resend.
    boost::asio::awaitable<bool> wait_for_ack(std::uint64_t ack_id, std::string& why, bool& config_error);
    void on_stop() override { client_.close(); }
    HttpRequest make_request(std::string_view target, std::string body, bool gzip);

    HecOptions opt_;
    HttpClient client_;
    std::string body_, zbody_;
};

// One event in HEC's envelope (exposed for tests and the benchmark).
void append_hec_envelope(std::string& out, const SpoolRecord& r, const HecOptions& o);

}  // namespace mw
