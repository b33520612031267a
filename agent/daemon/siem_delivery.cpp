// SiemDelivery (see siem_delivery.hpp): builds the sinks from their parsed options.
#include "daemon/siem_delivery.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

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

}  // namespace mw
