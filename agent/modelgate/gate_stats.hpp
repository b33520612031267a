// The model gate's counters, on their own so metrics can read them without the gate's
// dependencies (scanner, fanotify). Written by the gate's threads with relaxed atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace mw::modelgate {

struct GateStats {
    std::atomic<std::uint64_t> answered{0};         // permission events answered (allow or deny)
    std::atomic<std::uint64_t> answered_at_once{0}; // without reading: cached verdict, metadata, unlisted
    std::atomic<std::uint64_t> verifications{0};    // files read, hashed and scanned
    std::atomic<std::uint64_t> coalesced{0};        // opens that joined a verification in flight
    std::atomic<std::uint64_t> answered_at_stop{0}; // pending opens answered by stop()
    std::atomic<std::uint64_t> queue_full{0};       // opens refused because max_pending was reached
    // Per watched open, by verdict: approved, or not (denied in enforce mode, alerted in monitor).
    std::atomic<std::uint64_t> approved{0};
    std::atomic<std::uint64_t> not_approved{0};
    std::atomic<std::uint64_t> denied{0};           // opens answered FAN_DENY (EPERM to the opener)
    std::atomic<std::uint64_t> cache_hits{0};       // verdicts taken from the cache (a re-open)
    std::atomic<std::uint64_t> pending{0};          // opens waiting for a verdict right now

    // Verification latency (read + hash + scan of one file), seconds; +Inf implied after the last.
    static constexpr std::array<double, 10> kLatencyBounds{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};
    std::array<std::atomic<std::uint64_t>, kLatencyBounds.size() + 1> latency_buckets{};  // per bucket, not cumulative
    std::atomic<std::uint64_t> latency_sum_ns{0};

    void observe_latency(std::uint64_t ns) {
        const double s = static_cast<double>(ns) / 1e9;
        std::size_t i = 0;
        while (i < kLatencyBounds.size() && s > kLatencyBounds[i]) ++i;
        latency_buckets[i].fetch_add(1, std::memory_order_relaxed);
        latency_sum_ns.fetch_add(ns, std::memory_order_relaxed);
    }
};

}  // namespace mw::modelgate
