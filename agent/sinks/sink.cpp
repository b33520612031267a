// The delivery loop every sink shares, plus JSON/time/gzip helpers for the encoders.
#include "sinks/sink.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <ctime>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace mw {

namespace asio = boost::asio;

SpoolSink::SpoolSink(asio::io_context& io, Spool& spool, std::string name, BatchOptions batch, RetryOptions retry,
                     std::string dead_letter_path)
    : io_(io),
      spool_(spool),
      name_(std::move(name)),
      batch_opt_(batch),
      retry_(retry),
      dead_letter_path_(std::move(dead_letter_path)),
      wake_(io),
      backoff_(io) {}

SpoolSink::~SpoolSink() { stopping_ = true; }

void SpoolSink::start() {
    if (running_) return;
    if (auto r = spool_.register_consumer(name_); !r) {
        spdlog::error("sinks: {}: cannot register with the spool: {}", name_, r.error().message);
        return;
    }
    running_ = true;
    stopping_ = false;
    asio::co_spawn(io_, run(), asio::detached);
}

void SpoolSink::stop() {
    stopping_ = true;
    wake_.cancel();
    backoff_.cancel();
    on_stop();
}

void SpoolSink::notify() { wake_.cancel(); }

asio::awaitable<void> SpoolSink::sleep(asio::steady_timer& t, std::chrono::milliseconds d) {
    boost::system::error_code ec;
    t.expires_after(d);
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::chrono::milliseconds SpoolSink::backoff(unsigned attempt, std::chrono::milliseconds floor) const {
    // Full jitter over an exponential ceiling (AWS architecture blog), never below Retry-After.
    static thread_local std::minstd_rand rng{std::random_device{}()};
    const auto cap = std::min<std::int64_t>(retry_.max.count(),
                                            retry_.initial.count() << std::min(attempt, 16u));
    std::uniform_int_distribution<std::int64_t> dist(cap / 2, std::max<std::int64_t>(cap, 1));
    return std::max(floor, std::chrono::milliseconds(dist(rng)));
}

void SpoolSink::dead_letter(const SpoolRecord& r, const std::string& reason) {
    stats_.dead_lettered++;
    spdlog::warn("sinks: {}: event {} (sequence {}) permanently rejected, dead-lettered: {}", name_, r.event_id,
                 r.sequence, reason);
    if (dead_letter_path_.empty()) return;
    std::string line = R"({"time":)";
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    append_json_string(line, format_rfc3339(static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
                                            static_cast<std::uint64_t>(ts.tv_nsec)));
    line += R"(,"sink":)";
    append_json_string(line, name_);
    line += R"(,"reason":)";
    append_json_string(line, reason);
    line += fmt::format(R"(,"sequence":{},"event_id":)", r.sequence);
    append_json_string(line, r.event_id);
    line += R"(,"event_json":)";
    append_json_string(line, r.json);
    line += "}\n";
    int fd = ::open(dead_letter_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        spdlog::error("sinks: {}: cannot write dead-letter file {}: {}", name_, dead_letter_path_,
                      std::strerror(errno));
    if (fd >= 0) {
        ::fdatasync(fd);
        ::close(fd);
    }
}

asio::awaitable<void> SpoolSink::run() {
    std::vector<SpoolRecord> records;
    std::vector<const SpoolRecord*> pending;
    std::uint64_t batch_last = 0;
    unsigned attempt = 0;
    spool_.rewind(name_);
    while (!stopping_) {
        if (pending.empty()) {
            auto n = spool_.read(name_, batch_opt_.max_events, batch_opt_.max_bytes, records);
            stats_.queue_depth = spool_.pending(name_);
            if (!n) {
                spdlog::error("sinks: {}: spool read failed: {}", name_, n.error().message);
                co_await sleep(backoff_, retry_.max);
                continue;
            }
            if (*n == 0) {
                stats_.oldest_pending_ns = 0;
                co_await sleep(wake_, batch_opt_.idle_poll);
                continue;
            }
            std::uint64_t oldest = 0;
            for (auto& r : records) {
                pending.push_back(&r);
                if (r.timestamp_ns != 0 && (oldest == 0 || r.timestamp_ns < oldest)) oldest = r.timestamp_ns;
            }
            stats_.oldest_pending_ns = oldest;
            batch_last = records.back().sequence;
        }
        const auto t0 = std::chrono::steady_clock::now();
        BatchOutcome out = co_await send(pending);
        if (stopping_) break;
        std::vector<bool> dead(pending.size(), false);
        for (auto& [i, reason] : out.dead) {
            if (i >= pending.size() || dead[i]) continue;
            dead[i] = true;
            stats_.errors_rejected++;
            dead_letter(*pending[i], reason);
        }
        stats_.sent += pending.size() - out.resend.size() - out.dead.size();
        if (out.resend.empty()) {
            const auto us = static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
            stats_.last_latency_us = us;
            const auto& bounds = SinkStats::kLatencyBoundsUs;
            stats_.latency_buckets[static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), us) -
                                                            bounds.begin())]++;
            stats_.latency_sum_us += us;
            stats_.batches++;
            timespec now{};
            clock_gettime(CLOCK_REALTIME, &now);
            stats_.last_success_ns = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull +
                                     static_cast<std::uint64_t>(now.tv_nsec);
            stats_.oldest_pending_ns = 0;
            if (auto r = spool_.ack(name_, batch_last); !r)
                spdlog::error("sinks: {}: spool ack failed: {}", name_, r.error().message);
            stats_.acked += records.size();
            stats_.queue_depth = spool_.pending(name_);
            pending.clear();
            attempt = 0;
            continue;
        }
        std::vector<const SpoolRecord*> next;
        next.reserve(out.resend.size());
        for (auto i : out.resend)
            if (i < pending.size()) next.push_back(pending[i]);
        pending.swap(next);
        attempt++;
        stats_.retries++;
        auto delay = out.slow ? retry_.auth_retry : backoff(attempt, out.retry_after);
        spdlog::warn("sinks: {}: {} event(s) kept for retry in {} ms (attempt {}): {}", name_, pending.size(),
                     delay.count(), attempt, out.reason);
        co_await sleep(backoff_, delay);
    }
    running_ = false;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

std::string format_rfc3339(std::uint64_t ns) {
    const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000ull);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:06}Z", buf, (ns % 1'000'000'000ull) / 1000);
}

Result<void> gzip_compress(std::string_view in, std::string& out, int level) {
    z_stream zs{};
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return make_error("sinks: gzip: deflateInit2 failed");
    out.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) return make_error("sinks: gzip: deflate did not finish");
    return {};
}

Result<std::string> gzip_decompress(std::string_view in, std::size_t limit) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return make_error("gzip: inflateInit2 failed");
    std::string out;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    char buf[65536];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            return make_error("gzip: corrupt stream");
        }
        out.append(buf, sizeof buf - zs.avail_out);
        if (out.size() > limit) {
            inflateEnd(&zs);
            return make_error("gzip: decompressed size over the limit");
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);
            return make_error("gzip: truncated stream");
        }
    }
    inflateEnd(&zs);
    return out;
}

}  // namespace mw
