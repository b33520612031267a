// Registry storage, Prometheus text exposition 0.0.4, and the /proc/self process collector.
#include "metrics/registry.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mw {
namespace {

const char* type_name(MetricType t) {
    switch (t) {
        case MetricType::Counter: return "counter";
        case MetricType::Gauge: return "gauge";
        case MetricType::Histogram: return "histogram";
    }
    return "untyped";
}

void write_labels(std::string& out, const std::vector<std::string>& names, const LabelValues& values,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
    if (names.empty() && extra_name.empty()) return;
    out.push_back('{');
    bool first = true;
    for (size_t i = 0; i < names.size(); ++i) {
        if (!first) out.push_back(',');
        first = false;
        out += names[i];
        out += "=\"";
        out += escape_label_value(values[i]);
        out.push_back('"');
    }
    if (!extra_name.empty()) {
        if (!first) out.push_back(',');
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out.push_back('"');
    }
    out.push_back('}');
}

void write_header(std::string& out, std::string_view name, std::string_view help, MetricType type) {
    out += "# HELP ";
    out += name;
    out.push_back(' ');
    out += escape_help(help);
    out += "\n# TYPE ";
    out += name;
    out.push_back(' ');
    out += type_name(type);
    out.push_back('\n');
}

}  // namespace

bool valid_metric_name(std::string_view n) {
    if (n.empty()) return false;
    for (size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

bool valid_label_name(std::string_view n) {
    if (n.empty() || n.starts_with("__")) return false;
    for (size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
    return out;
}

std::string format_metric_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return buf;
    }
    // Shortest of 15..17 significant digits that reads back as the same double.
    char buf[40];
    for (int prec = 15; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

void Histogram::observe(double v) const {
    const auto& b = cells_->bounds;
    size_t i = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
    cells_->buckets[i].fetch_add(1, std::memory_order_relaxed);
    cells_->sum.fetch_add(v, std::memory_order_relaxed);
    cells_->count.fetch_add(1, std::memory_order_relaxed);
}

Result<MetricsRegistry::Series*> MetricsRegistry::series_for(std::string_view name, std::string_view help,
                                                             MetricType type, const std::vector<std::string>& label_names,
                                                             const LabelValues& values, std::vector<double> bounds) {
    std::string n(name);
    if (!valid_metric_name(name)) return make_error("metrics: invalid metric name '" + n + "'");
    for (const auto& l : label_names) {
        if (!valid_label_name(l) || (type == MetricType::Histogram && l == "le"))
            return make_error("metrics: invalid label name '" + l + "' on " + n);
    }
    if (values.size() != label_names.size())
        return make_error("metrics: " + n + " has " + std::to_string(label_names.size()) + " labels but " +
                          std::to_string(values.size()) + " values were given");
    if (!std::is_sorted(bounds.begin(), bounds.end()) ||
        std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
        std::any_of(bounds.begin(), bounds.end(), [](double d) { return !std::isfinite(d); }))
        return make_error("metrics: histogram " + n + " bounds must be finite and strictly ascending");

    std::lock_guard lock(mu_);
    Family* fam = nullptr;
    for (auto& f : families_) {
        if (f.name == n) {
            if (f.type != type || f.label_names != label_names || f.bounds != bounds)
                return make_error("metrics: " + n + " is already registered with another type, labels or buckets");
            fam = &f;
        }
    }
    if (!fam) {
        families_.push_back(Family{n, std::string(help), type, label_names, std::move(bounds), {}});
        fam = &families_.back();
    }
    for (auto& s : fam->series)
        if (s.values == values) return &s;
    Series& s = fam->series.emplace_back();
    s.values = values;
    if (type == MetricType::Histogram) {
        s.hist.bounds = fam->bounds;
        s.hist.buckets = std::make_unique<std::atomic<std::uint64_t>[]>(fam->bounds.size() + 1);
    }
    return &s;
}

Result<Counter> MetricsRegistry::counter(std::string_view name, std::string_view help,
                                         const std::vector<std::string>& label_names, const LabelValues& values) {
    auto s = series_for(name, help, MetricType::Counter, label_names, values, {});
    if (!s) return s.error();
    return Counter(&(*s)->counter);
}

Result<Gauge> MetricsRegistry::gauge(std::string_view name, std::string_view help,
                                     const std::vector<std::string>& label_names, const LabelValues& values) {
    auto s = series_for(name, help, MetricType::Gauge, label_names, values, {});
    if (!s) return s.error();
    return Gauge(&(*s)->gauge);
}

Result<Histogram> MetricsRegistry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                             const std::vector<std::string>& label_names, const LabelValues& values) {
    auto s = series_for(name, help, MetricType::Histogram, label_names, values, std::move(bounds));
    if (!s) return s.error();
    return Histogram(&(*s)->hist);
}

void MetricsRegistry::add_collector(MetricsCollector collector) {
    std::lock_guard lock(mu_);
    collectors_.push_back(std::move(collector));
}

bool MetricsWriter::family(std::string_view name, std::string_view help, MetricType type,
                           const std::vector<std::string>& label_names) {
    skipping_ = true;
    if (!valid_metric_name(name)) return false;
    for (const auto& l : label_names)
        if (!valid_label_name(l) || (type == MetricType::Histogram && l == "le")) return false;
    if (std::find(seen_.begin(), seen_.end(), name) != seen_.end()) return false;
    seen_.emplace_back(name);
    current_ = std::string(name);
    labels_ = label_names;
    type_ = type;
    skipping_ = false;
    write_header(out_, name, help, type);
    return true;
}

void MetricsWriter::sample(const LabelValues& values, double value) {
    if (skipping_ || type_ == MetricType::Histogram || values.size() != labels_.size()) return;
    out_ += current_;
    write_labels(out_, labels_, values);
    out_.push_back(' ');
    out_ += format_metric_value(value);
    out_.push_back('\n');
}

void MetricsWriter::histogram(const LabelValues& values, std::span<const double> bounds,
                              std::span<const std::uint64_t> buckets, double sum) {
    if (skipping_ || type_ != MetricType::Histogram || values.size() != labels_.size() ||
        buckets.size() != bounds.size() + 1)
        return;
    std::uint64_t cumulative = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
        cumulative += buckets[i];
        out_ += current_ + "_bucket";
        write_labels(out_, labels_, values, "le", i < bounds.size() ? format_metric_value(bounds[i]) : "+Inf");
        out_ += " " + std::to_string(cumulative) + "\n";
    }
    out_ += current_ + "_sum";
    write_labels(out_, labels_, values);
    out_ += " " + format_metric_value(sum) + "\n";
    out_ += current_ + "_count";
    write_labels(out_, labels_, values);
    out_ += " " + std::to_string(cumulative) + "\n";
}

std::string MetricsRegistry::expose() const {
    MetricsWriter w;
    std::vector<MetricsCollector> collectors;
    {
        std::lock_guard lock(mu_);
        for (const auto& f : families_) {
            w.seen_.push_back(f.name);
            write_header(w.out_, f.name, f.help, f.type);
            for (const auto& s : f.series) {
                if (f.type == MetricType::Counter || f.type == MetricType::Gauge) {
                    w.out_ += f.name;
                    write_labels(w.out_, f.label_names, s.values);
                    w.out_.push_back(' ');
                    w.out_ += f.type == MetricType::Counter
                                  ? std::to_string(s.counter.load(std::memory_order_relaxed))
                                  : format_metric_value(s.gauge.load(std::memory_order_relaxed));
                    w.out_.push_back('\n');
                    continue;
                }
                // Buckets are stored per bucket and exposed cumulative, as the format requires.
                std::uint64_t cumulative = 0;
                for (size_t i = 0; i <= f.bounds.size(); ++i) {
                    cumulative += s.hist.buckets[i].load(std::memory_order_relaxed);
                    w.out_ += f.name + "_bucket";
                    write_labels(w.out_, f.label_names, s.values, "le",
                                 i < f.bounds.size() ? format_metric_value(f.bounds[i]) : "+Inf");
                    w.out_ += " " + std::to_string(cumulative) + "\n";
                }
                w.out_ += f.name + "_sum";
                write_labels(w.out_, f.label_names, s.values);
                w.out_ += " " + format_metric_value(s.hist.sum.load(std::memory_order_relaxed)) + "\n";
                w.out_ += f.name + "_count";
                write_labels(w.out_, f.label_names, s.values);
                // count = the +Inf bucket, so a scrape racing an observe stays self-consistent.
                w.out_ += " " + std::to_string(cumulative) + "\n";
            }
        }
        collectors = collectors_;
    }
    for (const auto& c : collectors) c(w);
    return std::move(w.out_);
}

void add_process_collector(MetricsRegistry& registry) {
    registry.add_collector([](MetricsWriter& w) {
        const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
        const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
        std::ifstream stat("/proc/self/stat");
        std::string line;
        std::getline(stat, line);
        // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
        auto rp = line.rfind(')');
        if (rp != std::string::npos) {
            std::istringstream rest(line.substr(rp + 2));
            std::vector<std::string> f;
            for (std::string tok; rest >> tok;) f.push_back(tok);
            // f[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
            if (f.size() > 21) {
                double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
                w.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, {});
                w.sample({}, cpu);
                w.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, {});
                w.sample({}, std::stod(f[20]));
                w.family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge, {});
                w.sample({}, std::stod(f[21]) * page);
                std::ifstream up("/proc/stat");
                for (std::string l; std::getline(up, l);) {
                    if (l.rfind("btime ", 0) == 0) {
                        w.family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                 MetricType::Gauge, {});
                        w.sample({}, std::stod(l.substr(6)) + std::stod(f[19]) / ticks);
                    }
                }
            }
        }
        std::error_code ec;
        double fds = 0;
        for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
            fds += 1;
        w.family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, {});
        w.sample({}, fds);
    });
}

}  // namespace mw
