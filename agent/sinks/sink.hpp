// Sink: one SIEM or local output, an independent consumer of the Spool with its own cursor,
// batching, retry with jittered exponential backoff, dead-letter file and counters.
#pragma once

#include <array>
#include <atomic>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/result.hpp"
#include "spool/spool.hpp"

namespace mw {

// Atomic counters the lead exports to Prometheus (read from any thread).
struct SinkStats {
    std::atomic<std::uint64_t> sent{0};            // events written to the peer
    std::atomic<std::uint64_t> acked{0};           // events acknowledged in the spool (delivered or dead-lettered)
    std::atomic<std::uint64_t> retries{0};         // batch or sub-batch resends
    std::atomic<std::uint64_t> dead_lettered{0};
    std::atomic<std::uint64_t> errors_network{0};  // connect/read/write failures and timeouts
    std::atomic<std::uint64_t> errors_tls{0};      // handshake or peer verification failed
    std::atomic<std::uint64_t> errors_auth{0};     // 401/403 and configuration errors
    std::atomic<std::uint64_t> errors_throttled{0};// 429/503 (server busy)
    std::atomic<std::uint64_t> errors_server{0};   // other 5xx, 408
    std::atomic<std::uint64_t> errors_rejected{0}; // 4xx payload errors (events dead-lettered)
    std::atomic<std::uint64_t> last_latency_us{0}; // last successful request, send to response/ack
    std::atomic<std::uint64_t> queue_depth{0};     // spool records not yet acknowledged by this sink
    std::atomic<std::uint64_t> batches{0};         // requests completed (every event delivered or dead-lettered)
    std::atomic<std::uint64_t> last_success_ns{0}; // CLOCK_REALTIME of the last completed batch (0 = none yet)
    std::atomic<std::uint64_t> oldest_pending_ns{0}; // event time of the oldest record read, not yet acked (0 = none)
    // Latency of completed batches as a histogram: per-bucket counts (last = +Inf), sum in microseconds.
    static constexpr std::array<std::uint64_t, 12> kLatencyBoundsUs{1'000,   5'000,     10'000,    25'000,
                                                                    50'000,  100'000,   250'000,   500'000,
                                                                    1'000'000, 2'500'000, 5'000'000, 10'000'000};
    std::array<std::atomic<std::uint64_t>, kLatencyBoundsUs.size() + 1> latency_buckets{};
    std::atomic<std::uint64_t> latency_sum_us{0};
};

struct RetryOptions {
    std::chrono::milliseconds initial{200};
    std::chrono::milliseconds max{30'000};
    std::chrono::milliseconds auth_retry{60'000};  // 401/403: keep the data, retry slowly
};

struct BatchOptions {
    std::size_t max_events = 5000;
    std::size_t max_bytes = 1 << 20;                // about 1 MB per request (before gzip)
    std::chrono::milliseconds idle_poll{100};       // spool poll when caught up (notify() wakes earlier)
};

// What one delivery attempt did with a batch (indices into the batch passed to send()).
struct BatchOutcome {
    std::vector<std::uint32_t> resend;                          // retry these (with backoff)
    std::vector<std::pair<std::uint32_t, std::string>> dead;    // permanently rejected: index, reason
    std::chrono::milliseconds retry_after{0};                   // server-requested delay (Retry-After)
    bool slow = false;                                          // auth/config failure: retry slowly
    std::string reason;                                         // why resend is non-empty
};

class Sink {
public:
    virtual ~Sink() = default;
    // Starts the delivery loop on the io_context (spawns one coroutine; no thread).
    virtual void start() = 0;
    // Stops after the current step; pending data stays in the spool.
    virtual void stop() = 0;
    // New data was appended: wake up now rather than at the next poll.
    virtual void notify() = 0;
    virtual const std::string& name() const = 0;
    virtual const SinkStats& stats() const = 0;
};

// The shared delivery loop: read from the spool, send(), dead-letter, ack, back off.
class SpoolSink : public Sink {
public:
    SpoolSink(boost::asio::io_context& io, Spool& spool, std::string name, BatchOptions batch, RetryOptions retry,
              std::string dead_letter_path);
    ~SpoolSink() override;
    void start() override;
    void stop() override;
    void notify() override;
    const std::string& name() const override { return name_; }
    const SinkStats& stats() const override { return stats_; }
    bool running() const { return running_; }

protected:
    // Delivers `batch` (all of it on success). Never throws.
    virtual boost::asio::awaitable<BatchOutcome> send(std::span<const SpoolRecord* const> batch) = 0;
    virtual void on_stop() {}
    boost::asio::io_context& io_;
    SinkStats stats_;

private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> sleep(boost::asio::steady_timer& t, std::chrono::milliseconds d);
    void dead_letter(const SpoolRecord& r, const std::string& reason);
    std::chrono::milliseconds backoff(unsigned attempt, std::chrono::milliseconds floor) const;

    Spool& spool_;
    std::string name_;
    BatchOptions batch_opt_;
    RetryOptions retry_;
    std::string dead_letter_path_;
    boost::asio::steady_timer wake_;     // idle wait: notify() ends it early
    boost::asio::steady_timer backoff_;  // retry wait: only stop() ends it early
    bool running_ = false;
    bool stopping_ = false;
};

// JSON string escaping for envelopes (quotes included).
void append_json_string(std::string& out, std::string_view s);
// RFC 3339 UTC with nanoseconds.
std::string format_rfc3339(std::uint64_t timestamp_ns);
// Gzip (RFC 1952) of `in` into `out`; level 1..9.
Result<void> gzip_compress(std::string_view in, std::string& out, int level);
Result<std::string> gzip_decompress(std::string_view in, std::size_t limit);

}  // namespace mw
