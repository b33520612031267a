// Spool implementation: two lanes (telemetry, alerts) of segment files, a cursor file per
// consumer, space and age limits with explicit, counted and reported loss.
#include "spool/spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <deque>

#include <spdlog/spdlog.h>

#include "spool/segment.hpp"

namespace mw {

using spool::kHeaderSize;
using spool::RecordHeader;
using spool::SegmentReader;

namespace {

constexpr std::uint32_t kCursorMagic = 0x3143574d;  // "MWC1"
constexpr int kTelemetry = 0;
constexpr int kAlerts = 1;

std::uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

Error errno_error(const std::string& what, int err) {
    return make_error(fmt::format("spool: {}: {}", what, std::strerror(err)), err);
}

bool valid_consumer_name(std::string_view n) {
    if (n.empty() || n.size() > 64) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    }) && n != "." && n != "..";
}

}  // namespace

struct Segment {
    std::uint64_t first_seq = 0;
    std::string path;
    std::uint64_t last_seq = 0;  // 0 = no valid record
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::uint64_t newest_ts = 0;
    bool sealed = true;
};

struct Spool::Lane {
    int index = 0;
    std::deque<Segment> segs;  // ordered by first_seq; the last one is active once open
    int fd = -1;               // active segment
    ~Lane() {
        if (fd >= 0) ::close(fd);
    }
};

struct LaneCursor {
    std::uint64_t seg_first = 0;  // segment the reader is in (0 = none yet)
    SegmentReader reader;
    bool peeked = false;
    SpoolRecord peek;
};

struct Spool::Consumer {
    std::string name;
    std::uint64_t acked = 0;
    std::uint64_t read_seq = 0;  // last sequence handed out by read()
    int fd = -1;
    bool dirty = false;
    LaneCursor lanes[2];
    ~Consumer() {
        if (fd >= 0) ::close(fd);
    }
};

Spool::~Spool() {
    (void)sync();
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<Spool>> Spool::open(const std::filesystem::path& dir, SpoolOptions options) {
    if (options.segment_bytes < 4096 || options.max_bytes < options.segment_bytes * 2)
        return make_error("spool: segment_bytes must be >= 4096 and max_bytes >= 2 * segment_bytes", EINVAL);
    if (options.max_record_bytes > options.segment_bytes)
        return make_error("spool: max_record_bytes must not exceed segment_bytes", EINVAL);
    std::unique_ptr<Spool> s(new Spool());
    s->dir_ = dir;
    s->opt_ = options;
    std::error_code ec;
    std::filesystem::create_directories(dir / "cursors", ec);
    if (ec) return make_error(fmt::format("spool: create {}: {}", dir.string(), ec.message()), ec.value());
    std::string lock = (dir / "lock").string();
    s->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd_ < 0) return errno_error("open " + lock, errno);
    if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0)
        return errno_error("lock " + lock + " (another writer owns this spool)", errno);
    for (int i = 0; i < 2; ++i) {
        s->lanes_[i] = std::make_unique<Lane>();
        s->lanes_[i]->index = i;
    }
    if (auto r = s->recover(); !r) return r.error();
    for (int i = 0; i < 2; ++i)
        if (auto r = s->open_active(i); !r) return r.error();
    s->last_sync_ns_ = mono_ns();
    return s;
}

Result<void> Spool::recover() {
    std::error_code ec;
    // Cursors first: the next sequence must stay above anything a consumer ever acknowledged.
    for (auto& e : std::filesystem::directory_iterator(dir_ / "cursors", ec)) {
        std::string name = e.path().filename().string();
        if (!name.ends_with(".cursor")) continue;
        name.resize(name.size() - 7);
        if (!valid_consumer_name(name)) continue;
        if (auto r = register_consumer(name); !r) return r;
    }
    if (ec) return make_error(fmt::format("spool: list {}: {}", (dir_ / "cursors").string(), ec.message()));
    std::vector<Segment> found[2];
    for (auto& e : std::filesystem::directory_iterator(dir_, ec)) {
        int lane = 0;
        std::uint64_t first = 0;
        if (!e.is_regular_file() || !spool::parse_segment_name(e.path().filename().string(), lane, first)) continue;
        Segment seg;
        seg.first_seq = first;
        seg.path = e.path().string();
        found[lane].push_back(seg);
    }
    if (ec) return make_error(fmt::format("spool: list {}: {}", dir_.string(), ec.message()));
    for (int lane = 0; lane < 2; ++lane) {
        auto& v = found[lane];
        std::sort(v.begin(), v.end(), [](const Segment& a, const Segment& b) { return a.first_seq < b.first_seq; });
        for (auto& seg : v) {
            SegmentReader r;
            if (!r.open(seg.path, opt_.max_record_bytes))
                return errno_error("open segment " + seg.path, r.error);
            RecordHeader h;
            std::string_view id, json;
            SegmentReader::Status st;
            while ((st = r.next(false, h, id, json)) == SegmentReader::Status::Record) {
                if (h.sequence <= seg.last_seq) continue;  // out of order: not ours, ignore
                seg.last_seq = h.sequence;
                seg.records++;
                seg.newest_ts = std::max(seg.newest_ts, h.timestamp_ns);
            }
            if (st == SegmentReader::Status::Error) return errno_error("read segment " + seg.path, r.error);
            struct stat sb{};
            if (::stat(seg.path.c_str(), &sb) == 0) seg.bytes = static_cast<std::uint64_t>(sb.st_size);
            if (r.corrupt_regions) {
                stats_.corrupt_regions += r.corrupt_regions;
                stats_.corrupt_bytes += r.corrupt_bytes;
                spdlog::warn("spool: segment {}: skipped {} corrupt or torn bytes in {} region(s), first at offset {}",
                             seg.path, r.corrupt_bytes, r.corrupt_regions, r.last_corrupt_offset);
            }
            next_seq_ = std::max({next_seq_, seg.last_seq + 1, seg.first_seq});
            if (seg.records == 0) {
                // Nothing readable: remove it so the new active segment's name cannot collide.
                ::unlink(seg.path.c_str());
                continue;
            }
            lanes_[lane]->segs.push_back(seg);
        }
    }
    for (auto& [_, c] : consumers_) next_seq_ = std::max(next_seq_, c->acked + 1);
    return {};
}

Result<void> Spool::open_active(int lane) {
    Lane& l = *lanes_[lane];
    if (l.fd >= 0) {
        if (opt_.fsync != FsyncPolicy::Never) ::fdatasync(l.fd);
        ::close(l.fd);
        l.fd = -1;
        if (!l.segs.empty()) l.segs.back().sealed = true;
    }
    Segment seg;
    seg.first_seq = next_seq_;
    seg.path = (dir_ / spool::segment_name(lane, next_seq_)).string();
    seg.sealed = false;
    int fd = ::open(seg.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("create segment " + seg.path, errno);
    l.fd = fd;
    l.segs.push_back(seg);
    // The directory entry must survive a crash too, or the records in it are unreachable.
    if (opt_.fsync != FsyncPolicy::Never) {
        int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }
    stats_.segments = lanes_[0]->segs.size() + (lanes_[1] ? lanes_[1]->segs.size() : 0);
    return {};
}

std::uint64_t Spool::total_bytes() const {
    std::uint64_t t = 0;
    for (auto& l : lanes_)
        if (l)
            for (auto& s : l->segs) t += s.bytes;
    return t;
}

std::uint64_t Spool::min_acked() const {
    std::uint64_t m = UINT64_MAX;
    for (auto& [_, c] : consumers_) m = std::min(m, c->acked);
    return m;
}

void Spool::drop_segment(int lane, std::size_t index, const char* reason) {
    Lane& l = *lanes_[lane];
    Segment seg = l.segs[index];
    std::uint64_t min = min_acked();
    std::uint64_t lost = 0, first_lost = 0;
    if (seg.records && min < seg.last_seq) {
        if (min < seg.first_seq) {
            lost = seg.records;
            first_lost = seg.first_seq;
        } else {
            // Partly acknowledged: count exactly what nobody has taken yet.
            SegmentReader r;
            if (r.open(seg.path, opt_.max_record_bytes)) {
                RecordHeader h;
                std::string_view id, json;
                while (r.next(false, h, id, json) == SegmentReader::Status::Record)
                    if (h.sequence > min) {
                        if (!first_lost) first_lost = h.sequence;
                        lost++;
                    }
            }
        }
    }
    ::unlink(seg.path.c_str());
    l.segs.erase(l.segs.begin() + static_cast<std::ptrdiff_t>(index));
    for (auto& [_, c] : consumers_)
        if (c->lanes[lane].seg_first == seg.first_seq) c->lanes[lane].reader.close();
    stats_.segments = lanes_[0]->segs.size() + lanes_[1]->segs.size();
    stats_.disk_bytes = total_bytes();
    if (lost) {
        (lane == kAlerts ? stats_.lost_alerts : stats_.lost_events) += lost;
        (lane == kAlerts ? pending_lost_alerts_ : pending_lost_events_) += lost;
        if (!pending_lost_first_ || first_lost < pending_lost_first_) pending_lost_first_ = first_lost;
        pending_lost_last_ = std::max(pending_lost_last_, seg.last_seq);
        spdlog::warn("spool: gave up segment {} ({}): {} unacknowledged {} lost", seg.path, reason, lost,
                     lane == kAlerts ? "alerts" : "telemetry events");
    }
}

Result<void> Spool::make_room(EventKind kind, std::uint64_t need) {
    const std::uint64_t limit =
        (opt_.full_policy == FullPolicy::Block && kind == EventKind::Event) ? opt_.max_bytes / 10 * 9 : opt_.max_bytes;
    auto fits = [&] { return total_bytes() + need <= limit; };
    // 1. History every consumer has acknowledged goes first, oldest first: no loss.
    const std::uint64_t min = min_acked();
    while (!fits()) {
        int best_lane = -1;
        for (int lane = 0; lane < 2; ++lane) {
            auto& segs = lanes_[lane]->segs;
            if (segs.size() < 2 || segs.front().last_seq > min) continue;
            if (best_lane < 0 || segs.front().first_seq < lanes_[best_lane]->segs.front().first_seq) best_lane = lane;
        }
        if (best_lane < 0) break;
        drop_segment(best_lane, 0, "acknowledged history");
    }
    if (fits()) return {};
    if (opt_.full_policy == FullPolicy::Block) return make_error("spool: full (block policy)", EAGAIN);
    // 2. drop_oldest: unacknowledged telemetry, oldest first; alerts only to make room for alerts.
    while (!fits()) {
        Lane& t = *lanes_[kTelemetry];
        if (t.segs.size() >= 2) {
            drop_segment(kTelemetry, 0, "spool full");
            continue;
        }
        if (!t.segs.empty() && t.segs.back().records > 0) {
            if (auto r = open_active(kTelemetry); !r) return r;
            drop_segment(kTelemetry, 0, "spool full");
            continue;
        }
        if (kind != EventKind::Alert) break;
        Lane& a = *lanes_[kAlerts];
        if (a.segs.size() >= 2) {
            drop_segment(kAlerts, 0, "spool full");
            continue;
        }
        break;
    }
    if (fits()) return {};
    return make_error("spool: full: no segment left to give up", EAGAIN);
}

Result<std::uint64_t> Spool::append(EventKind kind, std::string_view event_id, std::uint64_t timestamp_ns,
                                    std::string_view json) {
    const std::uint64_t size = kHeaderSize + event_id.size() + json.size();
    if (event_id.size() > 0xffff || size > opt_.max_record_bytes)
        return make_error(fmt::format("spool: record of {} bytes exceeds the limit of {}", size, opt_.max_record_bytes),
                          EMSGSIZE);
    const int lane = kind == EventKind::Alert ? kAlerts : kTelemetry;
    // Keep room for the loss report this append may have to write.
    if (total_bytes() + size + 1024 > opt_.max_bytes || (opt_.full_policy == FullPolicy::Block && lane == kTelemetry &&
                                                          total_bytes() + size > opt_.max_bytes / 10 * 9)) {
        if (auto r = make_room(kind, size + (in_loss_record_ ? 0 : 1024)); !r) {
            stats_.refused_full++;
            return r.error();
        }
    }
    Lane& l = *lanes_[lane];
    if (l.segs.back().bytes > 0 && l.segs.back().bytes + size > opt_.segment_bytes)
        if (auto r = open_active(lane); !r) return r.error();
    const std::uint64_t seq = next_seq_;
    spool::encode_record(scratch_, kind, seq, timestamp_ns, event_id, json);
    Segment& seg = l.segs.back();
    std::size_t done = 0;
    while (done < scratch_.size()) {
        ssize_t w = ::write(l.fd, scratch_.data() + done, scratch_.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            // Never leave half a record for readers to trip over.
            if (done) (void)::ftruncate(l.fd, static_cast<off_t>(seg.bytes));
            return errno_error("write " + seg.path, err);
        }
        done += static_cast<std::size_t>(w);
    }
    next_seq_++;
    seg.bytes += size;
    seg.records++;
    seg.last_seq = seq;
    seg.newest_ts = std::max(seg.newest_ts, timestamp_ns);
    (lane == kAlerts ? stats_.appended_alerts : stats_.appended_events)++;
    stats_.appended_bytes += size;
    stats_.disk_bytes += size;
    dirty_ = true;
    if (opt_.fsync == FsyncPolicy::Always) {
        ::fdatasync(l.fd);
        stats_.fsyncs++;
        dirty_ = false;
    } else if (opt_.fsync == FsyncPolicy::Interval) {
        std::uint64_t now = mono_ns();
        if (now - last_sync_ns_ >= static_cast<std::uint64_t>(opt_.fsync_interval.count()) * 1'000'000ull)
            (void)sync();
    }
    // One loss report per second at most (maintain() flushes the rest): reports must not
    // themselves crowd out the alerts they protect.
    if ((pending_lost_events_ || pending_lost_alerts_) && !in_loss_record_ &&
        mono_ns() - last_loss_report_ns_ >= 1'000'000'000ull)
        (void)append_loss_record("spool full");
    return seq;
}

Result<void> Spool::append_loss_record(const char* reason) {
    in_loss_record_ = true;
    const std::uint64_t ev = pending_lost_events_, al = pending_lost_alerts_;
    const std::uint64_t first = pending_lost_first_, last = pending_lost_last_;
    pending_lost_events_ = pending_lost_alerts_ = pending_lost_first_ = pending_lost_last_ = 0;
    const std::uint64_t now = realtime_ns();
    const std::time_t secs = static_cast<std::time_t>(now / 1'000'000'000ull);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string id = fmt::format("spool-loss-{}", next_seq_);
    // Reported to the SIEM as an alert: a gap in the record is itself security-relevant.
    std::string json = fmt::format(
        R"({{"@timestamp":"{}.{:09}Z","event":{{"id":"{}","kind":"alert","category":["host"],"type":["info"],)"
        R"("action":"spool-loss","dataset":"modelwarden.agent","reason":"{}"}},)"
        R"("message":"modelwarden spool gave up {} telemetry events and {} alerts (sequences {}..{}): {}",)"
        R"("modelwarden":{{"spool":{{"lost_events":{},"lost_alerts":{},"first_sequence":{},"last_sequence":{}}}}}}})",
        ts, now % 1'000'000'000ull, id, reason, ev, al, first, last, reason, ev, al, first, last);
    auto r = append(EventKind::Alert, id, now, json);
    in_loss_record_ = false;
    if (!r) {
        // Keep it pending: the next append tries again.
        pending_lost_events_ += ev;
        pending_lost_alerts_ += al;
        pending_lost_first_ = pending_lost_first_ ? std::min(pending_lost_first_, first) : first;
        pending_lost_last_ = std::max(pending_lost_last_, last);
        return r.error();
    }
    stats_.loss_records++;
    last_loss_report_ns_ = mono_ns();
    return {};
}

Result<void> Spool::sync() {
    for (auto& l : lanes_)
        if (l && l->fd >= 0 && dirty_) ::fdatasync(l->fd);
    for (auto& [_, c] : consumers_)
        if (c->dirty && c->fd >= 0) {
            ::fdatasync(c->fd);
            c->dirty = false;
        }
    if (dirty_) stats_.fsyncs++;
    dirty_ = false;
    last_sync_ns_ = mono_ns();
    return {};
}

Result<void> Spool::maintain(std::uint64_t now_ns) {
    if (opt_.max_age.count() > 0) {
        const std::uint64_t age_ns = static_cast<std::uint64_t>(opt_.max_age.count()) * 1'000'000'000ull;
        for (int lane = 0; lane < 2; ++lane) {
            Lane& l = *lanes_[lane];
            if (!l.segs.empty() && l.segs.back().records && l.segs.back().newest_ts + age_ns < now_ns)
                if (auto r = open_active(lane); !r) return r;
            while (l.segs.size() >= 2 && l.segs.front().newest_ts + age_ns < now_ns) drop_segment(lane, 0, "max age");
        }
    }
    if (pending_lost_events_ || pending_lost_alerts_) (void)append_loss_record("spool full or max age");
    if (opt_.fsync != FsyncPolicy::Never) return sync();
    return {};
}

Result<void> Spool::register_consumer(std::string_view name) {
    if (!valid_consumer_name(name))
        return make_error(fmt::format("spool: invalid consumer name '{}' (use [A-Za-z0-9._-], 1-64 chars)", name),
                          EINVAL);
    if (consumers_.count(name)) return {};
    auto c = std::make_unique<Consumer>();
    c->name = std::string(name);
    std::string path = (dir_ / "cursors" / (c->name + ".cursor")).string();
    c->fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->fd < 0) return errno_error("open cursor " + path, errno);
    unsigned char buf[16];
    ssize_t n = ::pread(c->fd, buf, sizeof buf, 0);
    if (n == 16) {
        std::uint64_t seq;
        std::uint32_t crc, magic;
        std::memcpy(&seq, buf, 8);
        std::memcpy(&crc, buf + 8, 4);
        std::memcpy(&magic, buf + 12, 4);
        if (magic == kCursorMagic && crc == static_cast<std::uint32_t>(crc32(0, buf, 8))) {
            c->acked = seq;
        } else {
            // Redelivering is safe (at-least-once); skipping is not.
            spdlog::warn("spool: cursor {} is corrupt: consumer '{}' restarts from the oldest record", path, name);
            stats_.corrupt_regions++;
        }
    } else if (n > 0) {
        spdlog::warn("spool: cursor {} is torn ({} bytes): consumer '{}' restarts from the oldest record", path, n,
                     name);
    }
    c->read_seq = c->acked;
    const bool fresh = n <= 0;
    auto& ref = *c;
    consumers_.emplace(c->name, std::move(c));
    if (fresh) {
        // A new consumer starts at the oldest record still on disk; make that durable now.
        if (auto r = write_cursor(ref); !r) return r;
        if (opt_.fsync != FsyncPolicy::Never) ::fdatasync(ref.fd);
    }
    return {};
}

Spool::Consumer& Spool::consumer(std::string_view name) {
    auto it = consumers_.find(name);
    return *it->second;
}

Result<void> Spool::write_cursor(Consumer& c) {
    unsigned char buf[16];
    std::memcpy(buf, &c.acked, 8);
    std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, buf, 8));
    std::memcpy(buf + 8, &crc, 4);
    std::memcpy(buf + 12, &kCursorMagic, 4);
    if (::pwrite(c.fd, buf, sizeof buf, 0) != 16) return errno_error("write cursor of " + c.name, errno);
    c.dirty = true;
    return {};
}

Result<void> Spool::ack(std::string_view name, std::uint64_t sequence) {
    if (!consumers_.count(name))
        if (auto r = register_consumer(name); !r) return r;
    Consumer& c = consumer(name);
    if (sequence <= c.acked) return {};
    if (sequence >= next_seq_)
        return make_error(fmt::format("spool: consumer '{}' acknowledged {} beyond the last sequence {}", name,
                                      sequence, next_seq_ - 1),
                          EINVAL);
    c.acked = sequence;
    c.read_seq = std::max(c.read_seq, sequence);
    if (auto r = write_cursor(c); !r) return r;
    if (opt_.fsync == FsyncPolicy::Always) {
        ::fdatasync(c.fd);
        c.dirty = false;
    }
    return {};
}

void Spool::rewind(std::string_view name) {
    auto it = consumers_.find(name);
    if (it == consumers_.end()) return;
    Consumer& c = *it->second;
    c.read_seq = c.acked;
    for (auto& lc : c.lanes) {
        lc.reader.close();
        lc.seg_first = 0;
        lc.peeked = false;
    }
}

std::uint64_t Spool::acked(std::string_view name) const {
    auto it = consumers_.find(name);
    return it == consumers_.end() ? 0 : it->second->acked;
}

std::uint64_t Spool::pending(std::string_view name) const {
    return next_seq_ - 1 - std::min(next_seq_ - 1, acked(name));
}

Result<std::size_t> Spool::read(std::string_view name, std::size_t max_records, std::size_t max_bytes,
                                std::vector<SpoolRecord>& out) {
    if (!consumers_.count(name))
        if (auto r = register_consumer(name); !r) return r.error();
    Consumer& c = consumer(name);
    // Brings the next unread record of a lane into lc.peek; false when the lane has none yet.
    auto fill = [&](int lane) -> Result<bool> {
        LaneCursor& lc = c.lanes[lane];
        if (lc.peeked) return true;
        auto& segs = lanes_[lane]->segs;
        for (;;) {
            if (!lc.reader.is_open()) {
                const Segment* next = nullptr;
                for (auto& s : segs)
                    if (s.first_seq > lc.seg_first && (s.last_seq > c.read_seq || !s.sealed)) {
                        next = &s;
                        break;
                    }
                if (!next) return false;
                if (!lc.reader.open(next->path, opt_.max_record_bytes))
                    return errno_error("open segment " + next->path, lc.reader.error);
                lc.seg_first = next->first_seq;
            }
            const Segment* cur = nullptr;
            for (auto& s : segs)
                if (s.first_seq == lc.seg_first) cur = &s;
            const bool live = cur && !cur->sealed;
            RecordHeader h;
            std::string_view id, json;
            auto st = lc.reader.next(live, h, id, json);
            if (st == SegmentReader::Status::Record) {
                if (h.sequence <= c.read_seq) continue;
                lc.peek.sequence = h.sequence;
                lc.peek.kind = static_cast<EventKind>(h.kind);
                lc.peek.timestamp_ns = h.timestamp_ns;
                lc.peek.event_id.assign(id);
                lc.peek.json.assign(json);
                lc.peeked = true;
                return true;
            }
            if (st == SegmentReader::Status::Error) return errno_error("read segment of " + c.name, lc.reader.error);
            if (live) return false;  // caught up with the writer
            lc.reader.close();       // sealed (or dropped) segment finished: next one
        }
    };
    std::size_t n = 0, bytes = 0;
    while (n < max_records) {
        auto a = fill(kTelemetry);
        if (!a) return a.error();
        auto b = fill(kAlerts);
        if (!b) return b.error();
        if (!*a && !*b) break;
        int lane = (*a && *b) ? (c.lanes[0].peek.sequence < c.lanes[1].peek.sequence ? 0 : 1) : (*a ? 0 : 1);
        LaneCursor& lc = c.lanes[lane];
        const std::size_t sz = lc.peek.json.size() + lc.peek.event_id.size();
        if (n > 0 && bytes + sz > max_bytes) break;
        if (out.size() <= n) out.emplace_back();
        std::swap(out[n], lc.peek);
        lc.peeked = false;
        c.read_seq = out[n].sequence;
        bytes += sz;
        n++;
    }
    out.resize(n);
    return n;
}

}  // namespace mw
