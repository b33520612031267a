// Spool unit tests: append/read/ack across lanes, restart durability, limits and loss reporting.
#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include <fmt/format.h>

#include "spool/spool.hpp"
#include "test_dir.hpp"

using namespace mw;

namespace {
std::string ev_json(std::uint64_t i) { return fmt::format(R"({{"event":{{"id":"e{}"}}}})", i); }

std::vector<SpoolRecord> read_all(Spool& s, const std::string& c) {
    std::vector<SpoolRecord> all, batch;
    for (;;) {
        auto n = s.read(c, 100, 1 << 20, batch);
        REQUIRE(n);
        if (*n == 0) break;
        for (auto& r : batch) all.push_back(r);
    }
    return all;
}
}  // namespace

TEST_CASE("spool: appends read back in sequence order across lanes", "[spool]") {
    TestDir d;
    auto s = Spool::open(d.path);
    REQUIRE(s);
    for (int i = 1; i <= 10; ++i) {
        auto kind = i % 3 == 0 ? EventKind::Alert : EventKind::Event;
        auto seq = (*s)->append(kind, fmt::format("e{}", i), 1000u + i, ev_json(i));
        REQUIRE(seq);
        CHECK(*seq == static_cast<std::uint64_t>(i));
    }
    auto all = read_all(**s, "hec");
    REQUIRE(all.size() == 10);
    for (int i = 0; i < 10; ++i) {
        CHECK(all[i].sequence == static_cast<std::uint64_t>(i + 1));
        CHECK(all[i].event_id == fmt::format("e{}", i + 1));
        CHECK(all[i].json == ev_json(i + 1));
        CHECK(all[i].kind == ((i + 1) % 3 == 0 ? EventKind::Alert : EventKind::Event));
        CHECK(all[i].timestamp_ns == 1001u + i);
    }
}

TEST_CASE("spool: cursors survive reopen - rewind redelivers unacknowledged", "[spool]") {
    TestDir d;
    {
        auto s = Spool::open(d.path);
        REQUIRE(s);
        for (int i = 1; i <= 20; ++i) REQUIRE((*s)->append(EventKind::Event, fmt::format("e{}", i), 1, ev_json(i)));
        std::vector<SpoolRecord> b;
        REQUIRE((*s)->read("a", 5, 1 << 20, b));
        REQUIRE(b.size() == 5);
        REQUIRE((*s)->ack("a", 5));
        REQUIRE((*s)->read("a", 5, 1 << 20, b));
        CHECK(b.front().sequence == 6);
        (*s)->rewind("a");
        REQUIRE((*s)->read("a", 1, 1 << 20, b));
        CHECK(b.front().sequence == 6);
        REQUIRE((*s)->register_consumer("b"));
    }
    auto s = Spool::open(d.path);
    REQUIRE(s);
    CHECK((*s)->acked("a") == 5);
    auto a = read_all(**s, "a");
    REQUIRE(a.size() == 15);
    CHECK(a.front().sequence == 6);
    CHECK(read_all(**s, "b").size() == 20);
    auto seq = (*s)->append(EventKind::Event, "e21", 1, ev_json(21));
    REQUIRE(seq);
    CHECK(*seq == 21);
    CHECK((*s)->ack("a", 99).error().code == EINVAL);
}

TEST_CASE("spool: second writer on the same directory is refused", "[spool]") {
    TestDir d;
    auto s = Spool::open(d.path);
    REQUIRE(s);
    auto t = Spool::open(d.path);
    REQUIRE(!t);
    CHECK(t.error().code == EWOULDBLOCK);
}

TEST_CASE("spool: drop_oldest gives up telemetry before alerts, counts and reports the loss", "[spool]") {
    TestDir d;
    SpoolOptions o;
    o.segment_bytes = 4096;
    o.max_bytes = 16384;
    o.max_record_bytes = 4096;
    auto s = Spool::open(d.path, o);
    REQUIRE(s);
    REQUIRE((*s)->register_consumer("sink"));
    std::string pad(200, 'x');
    std::set<std::string> alerts;
    for (int i = 0; i < 300; ++i) {
        bool alert = i % 10 == 0;
        std::string id = fmt::format("e{}", i);
        if (alert) alerts.insert(id);
        auto r = (*s)->append(alert ? EventKind::Alert : EventKind::Event, id, 1, pad);
        if (!r) FAIL(i << " " << r.error().message);
        REQUIRE(r);
    }
    REQUIRE((*s)->maintain(2));
    const auto& st = (*s)->stats();
    CHECK(st.lost_events > 0);
    CHECK(st.lost_alerts == 0);
    CHECK(st.loss_records > 0);
    CHECK(st.disk_bytes <= o.max_bytes);
    auto all = read_all(**s, "sink");
    std::uint64_t reported = 0;
    std::set<std::string> got_alerts;
    std::uint64_t telemetry = 0;
    for (auto& r : all) {
        if (r.event_id.starts_with("spool-loss-")) {
            auto pos = r.json.find("\"lost_events\":");
            REQUIRE(pos != std::string::npos);
            reported += std::stoull(r.json.substr(pos + 14));
            CHECK(r.kind == EventKind::Alert);
        } else if (r.kind == EventKind::Alert) {
            got_alerts.insert(r.event_id);
        } else {
            telemetry++;
        }
    }
    CHECK(got_alerts == alerts);
    CHECK(reported == st.lost_events);
    CHECK(telemetry + st.lost_events == 270);
}

TEST_CASE("spool: block policy refuses telemetry first, then alerts, and acks free space", "[spool]") {
    TestDir d;
    SpoolOptions o;
    o.segment_bytes = 4096;
    o.max_bytes = 16384;
    o.max_record_bytes = 4096;
    o.full_policy = FullPolicy::Block;
    auto s = Spool::open(d.path, o);
    REQUIRE(s);
    REQUIRE((*s)->register_consumer("sink"));
    std::string pad(300, 'x');
    int ev = 0;
    for (;; ++ev) {
        auto r = (*s)->append(EventKind::Event, fmt::format("e{}", ev), 1, pad);
        if (!r) {
            CHECK(r.error().code == EAGAIN);
            break;
        }
    }
    auto a = (*s)->append(EventKind::Alert, "a0", 1, pad);
    CHECK(a);  // alerts still have the reserve
    CHECK((*s)->stats().lost_events == 0);
    CHECK((*s)->stats().refused_full == 1);
    auto all = read_all(**s, "sink");
    CHECK(all.size() == static_cast<std::size_t>(ev) + 1);
    REQUIRE((*s)->ack("sink", all.back().sequence));
    CHECK((*s)->append(EventKind::Event, "after", 1, pad));
}

TEST_CASE("spool: age expiry drops old unacknowledged segments and reports it", "[spool]") {
    TestDir d;
    SpoolOptions o;
    o.segment_bytes = 4096;
    o.max_bytes = 1 << 20;
    o.max_age = std::chrono::seconds(60);
    o.max_record_bytes = 4096;
    auto s = Spool::open(d.path, o);
    REQUIRE(s);
    REQUIRE((*s)->register_consumer("sink"));
    const std::uint64_t now = 1'000'000ull * 1'000'000'000ull;
    for (int i = 0; i < 5; ++i) REQUIRE((*s)->append(EventKind::Event, fmt::format("old{}", i), now - 120'000'000'000ull, "{}"));
    REQUIRE((*s)->maintain(now));
    CHECK((*s)->stats().lost_events == 5);
    auto all = read_all(**s, "sink");
    REQUIRE(all.size() == 1);
    CHECK(all[0].event_id.starts_with("spool-loss-"));
    CHECK(all[0].json.find("\"lost_events\":5") != std::string::npos);
}

TEST_CASE("spool: oversized records and bad consumer names are refused", "[spool]") {
    TestDir d;
    auto s = Spool::open(d.path);
    REQUIRE(s);
    std::string big(2 << 20, 'x');
    CHECK((*s)->append(EventKind::Event, "x", 1, big).error().code == EMSGSIZE);
    CHECK((*s)->register_consumer("../evil").error().code == EINVAL);
}

TEST_CASE("spool: query filters by time and kind and keeps the newest", "[spool]") {
    TestDir d;
    {
        auto s = Spool::open(d.path);
        REQUIRE(s);
        for (int i = 1; i <= 10; ++i)
            REQUIRE((*s)->append(i % 2 ? EventKind::Alert : EventKind::Event, fmt::format("e{}", i), 100u * i, ev_json(i)));
        auto q = query_spool(d.path, 300, EventKind::Alert, 2);
        REQUIRE(q);
        REQUIRE(q->size() == 2);
        CHECK((*q)[0].event_id == "e7");
        CHECK((*q)[1].event_id == "e9");
    }
    std::ostringstream out, err;
    CHECK(run_events_query(d.path, "10x", "alert", 0, out, err) == 1);
    CHECK(err.str().find("bad --since unit 'x'") != std::string::npos);
    CHECK(run_events_query(d.path, "0", "all", 3, out, err) == 0);
    CHECK(out.str() == ev_json(8) + "\n" + ev_json(9) + "\n" + ev_json(10) + "\n");
    auto since = parse_since("10m", 1000ull * 1'000'000'000ull);
    REQUIRE(since);
    CHECK(*since == 400ull * 1'000'000'000ull);
}
