// Read-only history queries over a spool directory: `modelwarden events --since 10m --kind alert`.
#include <algorithm>
#include <charconv>
#include <ctime>
#include <deque>
#include <ostream>

#include <fmt/format.h>

#include "spool/segment.hpp"
#include "spool/spool.hpp"

namespace mw {

Result<std::uint64_t> parse_since(std::string_view since, std::uint64_t now_ns) {
    if (since.empty()) return std::uint64_t{0};
    std::uint64_t value = 0;
    auto r = std::from_chars(since.data(), since.data() + since.size(), value);
    if (r.ec != std::errc())
        return make_error(fmt::format("events: bad --since '{}': expected e.g. 30s, 10m, 2h, 1d or Unix seconds", since),
                          EINVAL);
    std::string_view unit(r.ptr, static_cast<std::size_t>(since.data() + since.size() - r.ptr));
    std::uint64_t mult = 0;
    if (unit.empty()) return value * 1'000'000'000ull;  // absolute Unix time
    if (unit == "s") mult = 1;
    else if (unit == "m") mult = 60;
    else if (unit == "h") mult = 3600;
    else if (unit == "d") mult = 86400;
    else
        return make_error(fmt::format("events: bad --since unit '{}' in '{}': use s, m, h or d", unit, since), EINVAL);
    const std::uint64_t ago = value * mult * 1'000'000'000ull;
    return ago >= now_ns ? std::uint64_t{0} : now_ns - ago;
}

Result<std::vector<SpoolRecord>> query_spool(const std::filesystem::path& dir, std::uint64_t since_ns,
                                             std::optional<EventKind> kind, std::size_t limit) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        return make_error(fmt::format("events: {} is not a spool directory", dir.string()), ENOENT);
    struct Seg {
        int lane;
        std::uint64_t first;
        std::string path;
    };
    std::vector<Seg> segs;
    for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
        int lane = 0;
        std::uint64_t first = 0;
        if (spool::parse_segment_name(e.path().filename().string(), lane, first))
            if (!kind || static_cast<int>(*kind) == lane) segs.push_back({lane, first, e.path().string()});
    }
    if (ec) return make_error(fmt::format("events: list {}: {}", dir.string(), ec.message()), ec.value());
    std::sort(segs.begin(), segs.end(), [](const Seg& a, const Seg& b) { return a.first < b.first; });
    // Newest `limit` matches, bounded memory: a ring of at most `limit` records per lane.
    std::deque<SpoolRecord> hits;
    for (auto& s : segs) {
        spool::SegmentReader r;
        if (!r.open(s.path, 1u << 30)) continue;  // deleted by the writer meanwhile
        spool::RecordHeader h;
        std::string_view id, json;
        // Treat every segment as live: the daemon may be appending to it right now.
        while (r.next(true, h, id, json) == spool::SegmentReader::Status::Record) {
            if (h.timestamp_ns < since_ns) continue;
            hits.push_back(SpoolRecord{h.sequence, static_cast<EventKind>(h.kind), h.timestamp_ns, std::string(id),
                                       std::string(json)});
            if (limit && hits.size() > 2 * limit) {
                std::sort(hits.begin(), hits.end(),
                          [](const SpoolRecord& a, const SpoolRecord& b) { return a.sequence < b.sequence; });
                hits.erase(hits.begin(), hits.end() - static_cast<std::ptrdiff_t>(limit));
            }
        }
    }
    std::sort(hits.begin(), hits.end(),
              [](const SpoolRecord& a, const SpoolRecord& b) { return a.sequence < b.sequence; });
    if (limit && hits.size() > limit) hits.erase(hits.begin(), hits.end() - static_cast<std::ptrdiff_t>(limit));
    return std::vector<SpoolRecord>(std::make_move_iterator(hits.begin()), std::make_move_iterator(hits.end()));
}

int run_events_query(const std::filesystem::path& spool_dir, std::string_view since, std::string_view kind,
                     std::size_t limit, std::ostream& out, std::ostream& err) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const std::uint64_t now = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
                              static_cast<std::uint64_t>(ts.tv_nsec);
    auto since_ns = parse_since(since, now);
    if (!since_ns) {
        err << since_ns.error().message << '\n';
        return 1;
    }
    std::optional<EventKind> k;
    if (kind == "alert") k = EventKind::Alert;
    else if (kind == "event") k = EventKind::Event;
    else if (!kind.empty() && kind != "all") {
        err << "events: bad --kind '" << kind << "': use alert, event or all\n";
        return 1;
    }
    auto recs = query_spool(spool_dir, *since_ns, k, limit);
    if (!recs) {
        err << recs.error().message << '\n';
        return 1;
    }
    for (auto& r : *recs) out << r.json << '\n';
    return 0;
}

}  // namespace mw
