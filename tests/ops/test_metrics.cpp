// Metrics tests: handles, exposition escaping, and a real scrape over HTTP parsed by the
// reference Prometheus text parser (python3-prometheus-client via /usr/bin/python3).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_get.hpp"
#include "metrics/http_server.hpp"
#include "metrics/registry.hpp"

namespace {

std::string run_parser(const std::string& text) {
    char tmpl[] = "/tmp/mw-scrape-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    std::string cmd = std::string("/usr/bin/python3 ") + MW_OPS_TEST_DIR + "/parse_prometheus.py < " + tmpl;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int rc = ::pclose(p);
    ::unlink(tmpl);
    REQUIRE(rc == 0);
    return out;
}

}  // namespace

TEST_CASE("metrics: registration validates names and reuses series", "[metrics]") {
    mw::MetricsRegistry reg;
    CHECK_FALSE(reg.counter("1bad", "x").ok());
    CHECK_FALSE(reg.counter("ok_total", "x", {"__reserved"}, {"v"}).ok());
    CHECK_FALSE(reg.counter("ok_total", "x", {"kind"}, {}).ok());
    CHECK_FALSE(reg.histogram("lat_seconds", "x", {0.1, 0.05}).ok());
    CHECK_FALSE(reg.histogram("lat_seconds", "x", {0.1}, {"le"}, {"1"}).ok());
    auto a = reg.counter("mw_events_total", "Events.", {"kind"}, {"exec"});
    auto b = reg.counter("mw_events_total", "Events.", {"kind"}, {"exec"});
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    a->inc();
    b->inc(2);
    CHECK(a->value() == 3);
    auto conflict = reg.gauge("mw_events_total", "Events.", {"kind"}, {"exec"});
    REQUIRE_FALSE(conflict.ok());
    CHECK(conflict.error().message == "metrics: mw_events_total is already registered with another type, labels or buckets");
}

TEST_CASE("metrics: exposition text is exact", "[metrics]") {
    mw::MetricsRegistry reg;
    auto c = reg.counter("mw_alerts_total", "Alerts by rule.\nSecond line \\ end", {"rule"}, {"a\"b\\c\nd"});
    REQUIRE(c.ok());
    c->inc(5);
    auto g = reg.gauge("mw_policy_generation", "Active policy generation.");
    REQUIRE(g.ok());
    g->set(7);
    auto h = reg.histogram("mw_sink_latency_seconds", "Sink latency.", {0.01, 0.1}, {"sink"}, {"hec"});
    REQUIRE(h.ok());
    h->observe(0.005);
    h->observe(0.01);
    h->observe(0.5);
    CHECK(reg.expose() ==
          "# HELP mw_alerts_total Alerts by rule.\\nSecond line \\\\ end\n"
          "# TYPE mw_alerts_total counter\n"
          "mw_alerts_total{rule=\"a\\\"b\\\\c\\nd\"} 5\n"
          "# HELP mw_policy_generation Active policy generation.\n"
          "# TYPE mw_policy_generation gauge\n"
          "mw_policy_generation 7\n"
          "# HELP mw_sink_latency_seconds Sink latency.\n"
          "# TYPE mw_sink_latency_seconds histogram\n"
          "mw_sink_latency_seconds_bucket{sink=\"hec\",le=\"0.01\"} 2\n"
          "mw_sink_latency_seconds_bucket{sink=\"hec\",le=\"0.1\"} 2\n"
          "mw_sink_latency_seconds_bucket{sink=\"hec\",le=\"+Inf\"} 3\n"
          "mw_sink_latency_seconds_sum{sink=\"hec\"} 0.515\n"
          "mw_sink_latency_seconds_count{sink=\"hec\"} 3\n");
}

TEST_CASE("metrics: scrape over HTTP parses with the Prometheus reference parser", "[metrics]") {
    mw::MetricsRegistry reg;
    auto exec = reg.counter("mw_events_total", "Events by kind.", {"kind"}, {"exec"});
    auto net = reg.counter("mw_events_total", "Events by kind.", {"kind"}, {"connect"});
    auto odd = reg.counter("mw_alerts_total", "Alerts by rule.", {"rule"}, {"quote\" back\\slash\nnewline"});
    auto lat = reg.histogram("mw_sink_latency_seconds", "Sink latency.", {0.25, 1}, {"sink"}, {"syslog"});
    REQUIRE(exec.ok());
    REQUIRE(net.ok());
    REQUIRE(odd.ok());
    REQUIRE(lat.ok());
    exec->inc(41);
    exec->inc();
    net->inc(3);
    odd->inc();
    lat->observe(0.125);
    lat->observe(2);
    std::uint64_t kernel_drops = 17;
    reg.add_collector([&](mw::MetricsWriter& w) {
        w.family("mw_ringbuf_drops_total", "Kernel ring-buffer drops.", mw::MetricType::Counter, {"cpu"});
        w.sample({"0"}, static_cast<double>(kernel_drops));
        w.sample({"1"}, 0);
        // A collector reusing a registered name is ignored rather than duplicating a family.
        CHECK_FALSE(w.family("mw_events_total", "dup", mw::MetricType::Counter, {}));
        w.sample({}, 99);
    });
    mw::add_process_collector(reg);

    boost::asio::io_context io;
    std::atomic<bool> ready{false};
    mw::MetricsServerOptions opt;
    opt.port = 0;
    opt.ready = [&] { return ready.load(); };
    mw::MetricsServer server(io, reg, opt);
    REQUIRE(server.start().ok());
    REQUIRE(server.port() != 0);
    auto guard = boost::asio::make_work_guard(io);
    std::thread loop([&] { io.run(); });

    auto notready = mwtest::http_get(server.port(), "/readyz");
    CHECK(notready.status == 503);
    ready = true;
    CHECK(mwtest::http_get(server.port(), "/readyz").status == 200);
    CHECK(mwtest::http_get(server.port(), "/healthz").status == 200);
    CHECK(mwtest::http_get(server.port(), "/nope").status == 404);
    auto scrape = mwtest::http_get(server.port(), "/metrics");
    server.stop();
    guard.reset();
    loop.join();

    REQUIRE(scrape.status == 200);
    CHECK(scrape.content_type == "text/plain; version=0.0.4; charset=utf-8");
    auto parsed = nlohmann::json::parse(run_parser(scrape.body));

    // The parser drops the _total suffix from counter family names.
    auto events = parsed["mw_events"];
    CHECK(events["type"] == "counter");
    CHECK(events["help"] == "Events by kind.");
    CHECK(events["samples"] == nlohmann::json::parse(R"([["mw_events_total",{"kind":"exec"},42.0],
                                                         ["mw_events_total",{"kind":"connect"},3.0]])"));
    CHECK(parsed["mw_alerts"]["samples"][0][1]["rule"] == "quote\" back\\slash\nnewline");
    CHECK(parsed["mw_alerts"]["samples"][0][2] == 1.0);
    CHECK(parsed["mw_ringbuf_drops"]["samples"] ==
          nlohmann::json::parse(R"([["mw_ringbuf_drops_total",{"cpu":"0"},17.0],["mw_ringbuf_drops_total",{"cpu":"1"},0.0]])"));
    CHECK(parsed["mw_sink_latency_seconds"]["type"] == "histogram");
    CHECK(parsed["mw_sink_latency_seconds"]["samples"] == nlohmann::json::parse(R"([
        ["mw_sink_latency_seconds_bucket",{"le":"0.25","sink":"syslog"},1.0],
        ["mw_sink_latency_seconds_bucket",{"le":"1","sink":"syslog"},1.0],
        ["mw_sink_latency_seconds_bucket",{"le":"+Inf","sink":"syslog"},2.0],
        ["mw_sink_latency_seconds_sum",{"sink":"syslog"},2.125],
        ["mw_sink_latency_seconds_count",{"sink":"syslog"},2.0]])"));
    // /proc/self values: exact values change between reads, so check they are this process's.
    REQUIRE(parsed.contains("process_resident_memory_bytes"));
    CHECK(parsed["process_resident_memory_bytes"]["samples"][0][2].get<double>() > 0);
    CHECK(parsed["process_cpu_seconds"]["type"] == "counter");
    CHECK(parsed["process_open_fds"]["type"] == "gauge");
}

TEST_CASE("metrics: a non-loopback address is refused unless allowed", "[metrics]") {
    boost::asio::io_context io;
    mw::MetricsRegistry reg;
    mw::MetricsServerOptions opt;
    opt.address = "0.0.0.0";
    opt.port = 0;
    mw::MetricsServer server(io, reg, opt);
    auto r = server.start();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message ==
          "metrics: refusing non-loopback listen address 0.0.0.0 (set allow_non_loopback to expose metrics off-host)");
    opt.address = "not-an-ip";
    mw::MetricsServer bad(io, reg, opt);
    auto r2 = bad.start();
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.error().message.rfind("metrics: invalid listen address 'not-an-ip'", 0) == 0);
}

TEST_CASE("metrics: a collector writes a histogram kept elsewhere, exactly", "[metrics]") {
    mw::MetricsRegistry reg;
    reg.add_collector([](mw::MetricsWriter& w) {
        // A histogram family refuses plain samples and an `le` label; the bucket count must fit the bounds.
        CHECK_FALSE(w.family("mw_bad_seconds", "x", mw::MetricType::Histogram, {"le"}));
        REQUIRE(w.family("mw_send_seconds", "Send latency.", mw::MetricType::Histogram, {"sink"}));
        w.sample({"ignored"}, 1);
        const std::vector<double> bounds{0.01, 0.1};
        w.histogram({"short"}, bounds, std::vector<std::uint64_t>{1, 2}, 1);
        w.histogram({"hec"}, bounds, std::vector<std::uint64_t>{2, 0, 1}, 0.515);
    });
    CHECK(reg.expose() ==
          "# HELP mw_send_seconds Send latency.\n"
          "# TYPE mw_send_seconds histogram\n"
          "mw_send_seconds_bucket{sink=\"hec\",le=\"0.01\"} 2\n"
          "mw_send_seconds_bucket{sink=\"hec\",le=\"0.1\"} 2\n"
          "mw_send_seconds_bucket{sink=\"hec\",le=\"+Inf\"} 3\n"
          "mw_send_seconds_sum{sink=\"hec\"} 0.515\n"
          "mw_send_seconds_count{sink=\"hec\"} 3\n");
}
