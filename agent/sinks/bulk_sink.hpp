// BulkSink: Elasticsearch / OpenSearch `_bulk` with `create` actions into data streams, _id from
// the event id (a retry can never duplicate), per-item result handling as issue 5 lists.
#pragma once

#include <memory>
#include <string>

#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"
#include "sinks/tls.hpp"

namespace mw {

struct BulkOptions {
    std::string name = "elasticsearch";
    std::string url;                                          // e.g. https://es.example:9200
    std::string api_key;                                      // base64 "id:key" as Elastic issues it (secret)
    std::string username, password;                           // basic auth alternative (secret)
    std::string alerts_stream = "logs-modelwarden.alerts-default";
    std::string events_stream = "logs-modelwarden.events-default";
    bool gzip = true;
    int gzip_level = 1;
    std::chrono::milliseconds timeout{30'000};
    TlsOptions tls;
    BatchOptions batch;
    RetryOptions retry;
    std::string dead_letter_path;
};

class BulkSink final : public SpoolSink {
public:
    static Result<std::unique_ptr<BulkSink>> create(boost::asio::io_context& io, Spool& spool, BulkOptions options);

private:
    BulkSink(boost::asio::io_context& io, Spool& spool, BulkOptions options, Url url,
             std::shared_ptr<boost::asio::ssl::context> ctx);
    boost::asio::awaitable<BatchOutcome> send(std::span<const SpoolRecord* const> batch) override;
    boost::asio::awaitable<void> send_range(std::span<const SpoolRecord* const> batch,
                                            std::vector<std::uint32_t> idx, BatchOutcome& out);
    void on_stop() override { client_.close(); }

    BulkOptions opt_;
    std::string auth_header_;
    HttpClient client_;
    std::string body_, zbody_;
};

// Document _id for an event id: the id itself when it is a valid _id (<= 512 bytes), else its SHA-256.
std::string bulk_document_id(std::string_view event_id);
void append_bulk_item(std::string& out, const SpoolRecord& r, const BulkOptions& o);

}  // namespace mw
