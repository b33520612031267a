// Metrics registry: counters, gauges and histograms whose label sets are registered up front
// and handed out as handles, so the hot path is one relaxed atomic add with no string work.
// Values owned elsewhere (kernel drop counters, spool depth, /proc/self) are read at scrape
// time through collectors. Exposition is the Prometheus text format 0.0.4.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace mw {

using LabelValues = std::vector<std::string>;

enum class MetricType { Counter, Gauge, Histogram };

class Counter {
public:
    Counter() = default;
    void inc(std::uint64_t n = 1) const { cell_->fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return cell_->load(std::memory_order_relaxed); }

private:
    friend class MetricsRegistry;
    explicit Counter(std::atomic<std::uint64_t>* cell) : cell_(cell) {}
    std::atomic<std::uint64_t>* cell_ = nullptr;
};

class Gauge {
public:
    Gauge() = default;
    void set(double v) const { cell_->store(v, std::memory_order_relaxed); }
    void add(double v) const { cell_->fetch_add(v, std::memory_order_relaxed); }
    double value() const { return cell_->load(std::memory_order_relaxed); }

private:
    friend class MetricsRegistry;
    explicit Gauge(std::atomic<double>* cell) : cell_(cell) {}
    std::atomic<double>* cell_ = nullptr;
};

struct HistogramCells {
    std::vector<double> bounds;                                 // upper bounds, ascending, without +Inf
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;      // per bucket (not cumulative); last = +Inf
    std::atomic<double> sum{0};
    std::atomic<std::uint64_t> count{0};
};

class Histogram {
public:
    Histogram() = default;
    void observe(double v) const;

private:
    friend class MetricsRegistry;
    explicit Histogram(HistogramCells* cells) : cells_(cells) {}
    HistogramCells* cells_ = nullptr;
};

// What a collector writes at scrape time: one family, then its samples.
class MetricsWriter {
public:
    // Starts a family. Returns false (and the family's samples are dropped) when the name or
    // a label name is invalid or the name is already taken, so a bad collector cannot corrupt
    // the exposition.
    bool family(std::string_view name, std::string_view help, MetricType type, const std::vector<std::string>& label_names);
    // A counter or gauge sample (ignored in a histogram family).
    void sample(const LabelValues& values, double value);
    // A histogram series whose buckets are kept elsewhere (e.g. a sink's atomics): `buckets` are
    // per bucket, not cumulative, one more than `bounds` (the last is +Inf). Ignored unless the
    // current family is a histogram and the sizes match.
    void histogram(const LabelValues& values, std::span<const double> bounds, std::span<const std::uint64_t> buckets,
                   double sum);

private:
    friend class MetricsRegistry;
    std::string out_;
    std::vector<std::string> seen_;
    std::string current_;
    std::vector<std::string> labels_;
    MetricType type_ = MetricType::Counter;
    bool skipping_ = true;
};

using MetricsCollector = std::function<void(MetricsWriter&)>;

class MetricsRegistry {
public:
    MetricsRegistry() = default;
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    // Registering the same (name, type, label names) again returns the same family; a
    // conflicting re-registration is an error.
    Result<Counter> counter(std::string_view name, std::string_view help, const std::vector<std::string>& label_names = {},
                            const LabelValues& values = {});
    Result<Gauge> gauge(std::string_view name, std::string_view help, const std::vector<std::string>& label_names = {},
                        const LabelValues& values = {});
    // `bounds` are upper bounds in ascending order (seconds for latencies); +Inf is implied.
    Result<Histogram> histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                const std::vector<std::string>& label_names = {}, const LabelValues& values = {});

    void add_collector(MetricsCollector collector);

    // The full scrape body in text format 0.0.4.
    std::string expose() const;

private:
    struct Series {
        LabelValues values;
        std::atomic<std::uint64_t> counter{0};
        std::atomic<double> gauge{0};
        HistogramCells hist;
    };
    struct Family {
        std::string name, help;
        MetricType type;
        std::vector<std::string> label_names;
        std::vector<double> bounds;
        std::deque<Series> series;  // deque: handles keep pointing at their cells as series are added
    };
    Result<Series*> series_for(std::string_view name, std::string_view help, MetricType type,
                               const std::vector<std::string>& label_names, const LabelValues& values,
                               std::vector<double> bounds);

    mutable std::mutex mu_;  // registration and scrape only; never taken by inc/set/observe
    std::deque<Family> families_;
    std::vector<MetricsCollector> collectors_;
};

bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
std::string format_metric_value(double v);

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_start_time_seconds: read from /proc/self at scrape time.
void add_process_collector(MetricsRegistry& registry);

}  // namespace mw
