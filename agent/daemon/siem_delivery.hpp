// SiemDelivery: the configured sinks (`sinks:` in config.yaml), each an independent consumer of
// the daemon's spool on its io_context; started after the spool opens, stopped on SIGTERM.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/result.hpp"
#include "sinks/sink.hpp"
#include "sinks/sinks_config.hpp"

namespace mw {

class MetricsRegistry;
class Spool;

class SiemDelivery {
public:
    struct SinkInfo {
        std::string name;
        std::string type;        // "hec", "bulk", "syslog", "file", "stdout"
        const SinkStats* stats;  // atomics: readable from any thread while the sink lives
    };

    ~SiemDelivery();
    SiemDelivery(const SiemDelivery&) = delete;
    SiemDelivery& operator=(const SiemDelivery&) = delete;

    // New records are in the spool. Cheap enough for the per-event path: at most one wake-up
    // per turn of the event loop reaches the sinks, however many events arrived in that turn.
    void notify();
    // Stops every sink after its current step; undelivered data stays in the spool for the next start.
    void stop();
    std::vector<SinkInfo> sinks() const;

private:
    friend Result<std::unique_ptr<SiemDelivery>> start_siem_delivery(boost::asio::io_context&, Spool&,
                                                                     const SinksConfig&);
    explicit SiemDelivery(boost::asio::io_context& io) : io_(io) {}

    boost::asio::io_context& io_;
    std::vector<std::unique_ptr<Sink>> sinks_;
    std::vector<std::string> types_;
    bool wake_posted_ = false;
    bool stopped_ = false;
};

// Creates every configured sink (all or none: a sink that cannot be built, e.g. an unreadable CA
// file, fails the start with its name) and starts them on `io`.
Result<std::unique_ptr<SiemDelivery>> start_siem_delivery(boost::asio::io_context& io, Spool& spool,
                                                          const SinksConfig& config);

// Per-sink Prometheus series (labels sink, type), read at scrape time from the sinks' atomics and
// the spool's cursors: events sent and acknowledged, batches, retries, errors by kind,
// dead-lettered events, send latency (histogram), last success, records pending for the sink's
// cursor and the age of the oldest one. Scrapes must run on the io_context that owns the spool.
// `delivery` and `spool` must outlive `registry`'s scrapes.
void add_sink_metrics(MetricsRegistry& registry, const SiemDelivery& delivery, const Spool& spool);

}  // namespace mw
