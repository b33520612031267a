// Spool: the durable local write-ahead log between the pipeline and every sink (issue 5).
// Checksummed records with sequence ids in segment files, one ledger entry per consumer,
// files deleted only once every consumer acknowledged them; also the local event history.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "model/security_event.hpp"

namespace mw {

enum class FsyncPolicy : std::uint8_t { Always, Interval, Never };
enum class FullPolicy : std::uint8_t { DropOldest, Block };

struct SpoolOptions {
    std::uint64_t segment_bytes = 8ull << 20;
    std::uint64_t max_bytes = 1ull << 30;          // all segments of both lanes
    std::chrono::seconds max_age{7 * 24 * 3600};   // 0 = no age limit
    FsyncPolicy fsync = FsyncPolicy::Interval;
    std::chrono::milliseconds fsync_interval{100};
    FullPolicy full_policy = FullPolicy::DropOldest;
    std::uint32_t max_record_bytes = 1u << 20;     // larger appends are refused
};

// One record as read back. Strings are owned so a batch outlives the read buffers.
struct SpoolRecord {
    std::uint64_t sequence = 0;
    EventKind kind = EventKind::Event;
    std::uint64_t timestamp_ns = 0;
    std::string event_id;
    std::string json;
};

// Counters the lead exports to Prometheus; written by the event-loop thread only.
struct SpoolStats {
    std::atomic<std::uint64_t> appended_events{0};
    std::atomic<std::uint64_t> appended_alerts{0};
    std::atomic<std::uint64_t> appended_bytes{0};
    std::atomic<std::uint64_t> lost_events{0};       // unacknowledged telemetry given up (full or age)
    std::atomic<std::uint64_t> lost_alerts{0};       // unacknowledged alerts given up
    std::atomic<std::uint64_t> refused_full{0};      // appends refused: block policy or no room
    std::atomic<std::uint64_t> loss_records{0};      // loss reports appended for the SIEM
    std::atomic<std::uint64_t> corrupt_regions{0};   // torn or corrupt byte ranges skipped
    std::atomic<std::uint64_t> corrupt_bytes{0};
    std::atomic<std::uint64_t> disk_bytes{0};
    std::atomic<std::uint64_t> segments{0};
    std::atomic<std::uint64_t> fsyncs{0};
};

class Spool {
public:
    // Opens or creates the spool in `dir` (taking an exclusive lock: one writer per directory),
    // recovers every segment (corrupt ranges are reported and skipped) and starts new active
    // segments: data written before a crash is never appended to again.
    static Result<std::unique_ptr<Spool>> open(const std::filesystem::path& dir, SpoolOptions options = {});
    ~Spool();
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    // Appends one event (one write(2); fsync per policy). Telemetry and alerts live in separate
    // lanes so a full spool gives up telemetry first. Errors: EAGAIN = full (block policy, or
    // no room even after dropping), EMSGSIZE = record too big, else the I/O errno.
    Result<std::uint64_t> append(EventKind kind, std::string_view event_id, std::uint64_t timestamp_ns,
                                 std::string_view json);

    // Consumer cursors. A consumer is registered (durably) on first use; only registered
    // consumers hold segments back. read() continues after the last record read, in sequence
    // order across both lanes; rewind() goes back to just after the acknowledged position.
    Result<std::size_t> read(std::string_view consumer, std::size_t max_records, std::size_t max_bytes,
                             std::vector<SpoolRecord>& out);
    // Everything up to and including `sequence` is done for this consumer (delivered or dead-lettered).
    Result<void> ack(std::string_view consumer, std::uint64_t sequence);
    void rewind(std::string_view consumer);
    std::uint64_t acked(std::string_view consumer) const;
    // Records appended but not yet acknowledged by this consumer (approximate: sequence distance).
    std::uint64_t pending(std::string_view consumer) const;
    Result<void> register_consumer(std::string_view consumer);

    // Periodic work for the daemon's timer (call about once a second): interval fsync, age
    // expiry, pending loss reports. `now_ns` = realtime ns.
    Result<void> maintain(std::uint64_t now_ns);
    Result<void> sync();

    std::uint64_t next_sequence() const { return next_seq_; }
    const SpoolStats& stats() const { return stats_; }
    const std::filesystem::path& dir() const { return dir_; }

    struct Lane;
    struct Consumer;

private:
    Spool() = default;
    Result<void> recover();
    Result<void> open_active(int lane);
    Result<void> make_room(EventKind kind, std::uint64_t need);
    void drop_segment(int lane, std::size_t index, const char* reason);
    Result<void> append_loss_record(const char* reason);
    void collect();
    Consumer& consumer(std::string_view name);
    Result<void> write_cursor(Consumer& c);
    std::uint64_t min_acked() const;
    std::uint64_t total_bytes() const;

    std::filesystem::path dir_;
    SpoolOptions opt_;
    int lock_fd_ = -1;
    std::unique_ptr<Lane> lanes_[2];
    std::map<std::string, std::unique_ptr<Consumer>, std::less<>> consumers_;
    std::uint64_t next_seq_ = 1;
    std::uint64_t last_sync_ns_ = 0;
    bool dirty_ = false;
    std::string scratch_;  // record assembly buffer, reused: no allocation per append once warm
    // Loss waiting to be reported (first/last sequence and counts of what was given up).
    std::uint64_t pending_lost_events_ = 0, pending_lost_alerts_ = 0;
    std::uint64_t pending_lost_first_ = 0, pending_lost_last_ = 0;
    bool in_loss_record_ = false;
    std::uint64_t last_loss_report_ns_ = 0;
    SpoolStats stats_;
};

// Read-only scan of a spool directory (safe while the daemon writes it): records with
// timestamp >= since_ns, of `kind` if given, the newest `limit` ones in sequence order.
Result<std::vector<SpoolRecord>> query_spool(const std::filesystem::path& dir, std::uint64_t since_ns,
                                             std::optional<EventKind> kind, std::size_t limit);

// `modelwarden events --since 10m --kind alert --limit N`: prints JSON lines; returns the exit
// code (0 ok, 1 bad arguments or unreadable spool) with the reason on `err`.
int run_events_query(const std::filesystem::path& spool_dir, std::string_view since, std::string_view kind,
                     std::size_t limit, std::ostream& out, std::ostream& err);

// "10m", "2h", "30s", "1d", or an absolute Unix time in seconds; returns a duration/epoch in ns.
Result<std::uint64_t> parse_since(std::string_view since, std::uint64_t now_ns);

}  // namespace mw
