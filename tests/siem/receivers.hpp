// Local stand-ins for Splunk HEC and Elasticsearch _bulk, faithful to the documented behaviour:
// HEC: Splunk "Format events for HTTP Event Collector", "HTTP Event Collector REST API endpoints"
//   and "About HTTP Event Collector Indexer Acknowledgment" (status/code table, ackId per POST on
//   a channel, /services/collector/ack answering {"acks":{"<id>":bool}} and true only once).
// _bulk: Elasticsearch "Bulk API" reference (NDJSON, Content-Type application/x-ndjson, final
//   newline required, per-item status in "items" with "errors":true on partial failure, 409
//   version_conflict_engine_exception for a `create` of an existing _id, 429 per item when busy).
// Each runs on its own thread and io_context on 127.0.0.1 with an ephemeral port.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

namespace siemtest {

struct Injected {
    unsigned status = 0;
    std::string body;
    std::string retry_after;
};

class HttpReceiver {
public:
    // With cert/key: HTTPS (client certificates not requested).
    HttpReceiver(std::string cert_file = {}, std::string key_file = {});
    virtual ~HttpReceiver();
    unsigned short port() const { return port_; }
    std::string url() const;
    // Down: connections are accepted and closed at once (a crashed or restarting server).
    void set_down(bool down) { down_ = down; }
    // The next `n` requests get this response instead of being processed.
    void inject(unsigned n, Injected r);
    std::uint64_t requests() const { return requests_; }
    std::vector<std::string> protocol_errors() const;  // client mistakes the receiver detected

protected:
    struct Request {
        std::string method, target, body;
        std::map<std::string, std::string> headers;  // lower-case names
    };
    struct Response {
        unsigned status = 200;
        std::string body;
        std::string retry_after;
    };
    virtual Response handle(const Request& req) = 0;
    void protocol_error(std::string what);
    mutable std::mutex mu_;

private:
    void serve();
    template <class Stream> void session(Stream& s);
    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::unique_ptr<boost::asio::ssl::context> tls_;
    unsigned short port_ = 0;
    std::atomic<bool> down_{false}, stop_{false};
    std::atomic<std::uint64_t> requests_{0};
    std::deque<Injected> injected_;
    std::vector<std::string> protocol_errors_;
    std::thread thread_;
    std::vector<std::thread> sessions_;
    std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> socks_;
};

class HecReceiver final : public HttpReceiver {
public:
    using HttpReceiver::HttpReceiver;
    std::string token = "00000000-0000-0000-0000-000000000001";
    bool ack_enabled = false;      // the token's "indexer acknowledgement" setting
    bool acks_never_true = false;  // indexer never confirms (silent loss on the Splunk side)
    std::size_t max_content_length = 1 << 20;  // decompressed bytes: larger = 413
    std::set<std::string> bad_event_ids;       // these events make the batch a 400 code 6

    // Event ids in arrival order, duplicates included (with acks: counted when POSTed).
    std::vector<std::string> ids() const;
    std::vector<std::string> events_json() const;
    std::uint64_t acks_returned_true() const;
    // CLOCK_REALTIME ns at which each event of events_json() was accepted (for latency figures).
    std::vector<std::uint64_t> arrivals_ns() const;

protected:
    Response handle(const Request& req) override;

private:
    std::vector<std::string> ids_, events_;
    std::vector<std::uint64_t> arrivals_;
    std::map<std::string, std::uint64_t> next_ack_;                 // channel -> next ackId
    std::map<std::string, std::set<std::uint64_t>> pending_acks_;   // channel -> not yet read true
    std::uint64_t acks_true_ = 0;
};

class BulkReceiver final : public HttpReceiver {
public:
    using HttpReceiver::HttpReceiver;
    std::string api_key = "aWQ6a2V5";                // base64("id:key")
    std::set<std::string> mapping_error_ids;         // always 400 mapper_parsing_exception
    std::map<std::string, int> busy_ids;             // _id -> times to answer 429 first
    void preload(const std::string& index, const std::string& id);  // exists already: create = 409

    std::map<std::string, std::string> documents() const;  // _id -> source
    std::map<std::string, std::string> document_index() const;  // _id -> data stream
    std::vector<std::string> ids() const;                    // every create attempt, in order
    std::uint64_t conflicts() const;

protected:
    Response handle(const Request& req) override;

private:
    std::map<std::string, std::string> docs_, doc_index_;
    std::vector<std::string> attempts_;
    std::uint64_t conflicts_ = 0;
};

// Splits HEC's concatenated JSON objects ("{...}{...}" with optional whitespace).
bool split_json_objects(const std::string& body, std::vector<std::string>& out);

// A throw-away PKI made with the openssl CLI: CA, server cert for 127.0.0.1, client cert,
// and a second unrelated CA. Returns false (with the command on stderr) if openssl fails.
struct TestPki {
    std::string dir, ca, ca_key, server_cert, server_key, client_cert, client_key, other_ca;
    bool make(const std::string& directory);
};

}  // namespace siemtest
