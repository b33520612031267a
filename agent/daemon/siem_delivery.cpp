// SiemDelivery (see siem_delivery.hpp): builds the sinks from their parsed options.
#include "daemon/siem_delivery.hpp"

#include <ctime>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "metrics/registry.hpp"
#include "sinks/bulk_sink.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/hec_sink.hpp"
#include "sinks/syslog_sink.hpp"
#include "spool/spool.hpp"

namespace mw {

namespace {

template <class T>
Result<std::unique_ptr<Sink>> upcast(Result<std::unique_ptr<T>> r) {
    if (!r) return r.error();
    return std::unique_ptr<Sink>(std::move(r).value());
}

Result<std::unique_ptr<Sink>> make_sink(boost::asio::io_context& io, Spool& spool, const SinkConfig& c) {
    struct Visitor {
        boost::asio::io_context& io;
        Spool& spool;
        Result<std::unique_ptr<Sink>> operator()(const HecOptions& o) const { return upcast(HecSink::create(io, spool, o)); }
        Result<std::unique_ptr<Sink>> operator()(const BulkOptions& o) const { return upcast(BulkSink::create(io, spool, o)); }
        Result<std::unique_ptr<Sink>> operator()(const SyslogOptions& o) const {
            return upcast(SyslogSink::create(io, spool, o));
        }
        Result<std::unique_ptr<Sink>> operator()(const FileSinkOptions& o) const {
            return upcast(FileSink::create(io, spool, o));
        }
        Result<std::unique_ptr<Sink>> operator()(const StdoutSinkOptions& o) const {
            return upcast(StdoutSink::create(io, spool, o));
        }
    };
    return std::visit(Visitor{io, spool}, c.options);
}

}  // namespace

Result<std::unique_ptr<SiemDelivery>> start_siem_delivery(boost::asio::io_context& io, Spool& spool,
                                                          const SinksConfig& config) {
    std::unique_ptr<SiemDelivery> d(new SiemDelivery(io));
    for (const auto& c : config.sinks) {
        auto sink = make_sink(io, spool, c);
        if (!sink) return make_error(fmt::format("sinks: {} ({}): {}", c.name, c.type(), sink.error().message),
                                     sink.error().code);
        d->sinks_.push_back(std::move(sink).value());
        d->types_.emplace_back(c.type());
    }
    for (std::size_t i = 0; i < d->sinks_.size(); ++i) {
        d->sinks_[i]->start();
        spdlog::info("sinks: {} ({}) started, {} record(s) waiting in the spool", d->sinks_[i]->name(), d->types_[i],
                     spool.pending(d->sinks_[i]->name()));
    }
    return d;
}

SiemDelivery::~SiemDelivery() { stop(); }

void SiemDelivery::notify() {
    if (wake_posted_ || stopped_ || sinks_.empty()) return;
    wake_posted_ = true;
    // Deferred to the end of this loop turn, so a burst read from the ring buffer wakes each sink once.
    boost::asio::post(io_, [this] {
        wake_posted_ = false;
        if (stopped_) return;
        for (auto& s : sinks_) s->notify();
    });
}

void SiemDelivery::stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& s : sinks_) s->stop();
}

std::vector<SiemDelivery::SinkInfo> SiemDelivery::sinks() const {
    std::vector<SinkInfo> out;
    for (std::size_t i = 0; i < sinks_.size(); ++i) out.push_back({sinks_[i]->name(), types_[i], &sinks_[i]->stats()});
    return out;
}

namespace {

double realtime_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

void add_sink_metrics(MetricsRegistry& registry, const SiemDelivery& delivery, const Spool& spool) {
    registry.add_collector([&delivery, &spool](MetricsWriter& w) {
        const auto sinks = delivery.sinks();
        const std::vector<std::string> labels{"sink", "type"};
        auto per_sink = [&](const char* name, const char* help, MetricType type, auto value) {
            if (!w.family(name, help, type, labels)) return;
            for (const auto& s : sinks) w.sample({s.name, s.type}, static_cast<double>(value(s)));
        };
        using Info = SiemDelivery::SinkInfo;
        per_sink("modelwarden_sink_events_sent_total", "Events the sink's peer accepted", MetricType::Counter,
                 [](const Info& s) { return s.stats->sent.load(); });
        per_sink("modelwarden_sink_events_acked_total", "Events acknowledged in the spool (delivered or dead-lettered)",
                 MetricType::Counter, [](const Info& s) { return s.stats->acked.load(); });
        per_sink("modelwarden_sink_batches_total", "Batches completed", MetricType::Counter,
                 [](const Info& s) { return s.stats->batches.load(); });
        per_sink("modelwarden_sink_retries_total", "Batch or sub-batch resends", MetricType::Counter,
                 [](const Info& s) { return s.stats->retries.load(); });
        per_sink("modelwarden_sink_dead_lettered_total", "Events the peer rejected for good (written to the dead-letter file)",
                 MetricType::Counter, [](const Info& s) { return s.stats->dead_lettered.load(); });
        if (w.family("modelwarden_sink_errors_total", "Delivery errors by kind", MetricType::Counter,
                     {"sink", "type", "kind"})) {
            for (const auto& s : sinks) {
                const SinkStats& st = *s.stats;
                const std::pair<const char*, std::uint64_t> kinds[] = {
                    {"network", st.errors_network.load()},     {"tls", st.errors_tls.load()},
                    {"auth", st.errors_auth.load()},           {"throttled", st.errors_throttled.load()},
                    {"server", st.errors_server.load()},       {"rejected", st.errors_rejected.load()}};
                for (const auto& [kind, n] : kinds) w.sample({s.name, s.type, kind}, static_cast<double>(n));
            }
        }
        if (w.family("modelwarden_sink_send_latency_seconds", "Time from sending a batch to its acceptance",
                     MetricType::Histogram, labels)) {
            std::vector<double> bounds;
            for (auto us : SinkStats::kLatencyBoundsUs) bounds.push_back(static_cast<double>(us) / 1e6);
            for (const auto& s : sinks) {
                std::vector<std::uint64_t> buckets;
                for (const auto& b : s.stats->latency_buckets) buckets.push_back(b.load());
                w.histogram({s.name, s.type}, bounds, buckets, static_cast<double>(s.stats->latency_sum_us.load()) / 1e6);
            }
        }
        const double now = realtime_seconds();
        // A sink that never succeeded has no sample: "never" is not an age.
        if (w.family("modelwarden_sink_last_success_timestamp_seconds", "Unix time of the sink's last completed batch",
                     MetricType::Gauge, labels))
            for (const auto& s : sinks)
                if (const auto ns = s.stats->last_success_ns.load())
                    w.sample({s.name, s.type}, static_cast<double>(ns) / 1e9);
        if (w.family("modelwarden_sink_last_success_age_seconds", "Seconds since the sink's last completed batch",
                     MetricType::Gauge, labels))
            for (const auto& s : sinks)
                if (const auto ns = s.stats->last_success_ns.load())
                    w.sample({s.name, s.type}, std::max(0.0, now - static_cast<double>(ns) / 1e9));
        per_sink("modelwarden_sink_pending_records", "Spool records not yet acknowledged by the sink's cursor",
                 MetricType::Gauge, [&spool](const Info& s) { return spool.pending(s.name); });
        if (w.family("modelwarden_sink_oldest_pending_timestamp_seconds",
                     "Event time of the oldest record the sink holds unacknowledged", MetricType::Gauge, labels))
            for (const auto& s : sinks)
                if (const auto ns = s.stats->oldest_pending_ns.load())
                    w.sample({s.name, s.type}, static_cast<double>(ns) / 1e9);
        // 0 when the sink holds nothing unacknowledged, so `> 300` alerts on a stuck sink.
        per_sink("modelwarden_sink_oldest_pending_age_seconds",
                 "Age of the oldest record the sink holds unacknowledged (0 = caught up)", MetricType::Gauge,
                 [now](const Info& s) {
                     const auto ns = s.stats->oldest_pending_ns.load();
                     return ns ? std::max(0.0, now - static_cast<double>(ns) / 1e9) : 0.0;
                 });
    });
}

}  // namespace mw
