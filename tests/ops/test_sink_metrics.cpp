// Sink metrics: a HEC sink started from a `sinks:` block delivers to the local HEC receiver,
// and the per-sink Prometheus series (scraped from the registry, parsed by the reference
// Prometheus parser) carry the exact counts of what happened: events, batches, retries,
// errors by kind, latency observations, pending records and their age.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "daemon/siem_delivery.hpp"
#include "metrics/registry.hpp"
#include "receivers.hpp"
#include "sinks/sinks_config.hpp"
#include "spool/spool.hpp"
#include "test_dir.hpp"

using namespace mw;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Event time of the records: a fixed past instant, so the pending timestamp is exact.
constexpr std::uint64_t kEventTimeNs = 1'700'000'000'000'000'000ull;

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
    const int rc = ::pclose(p);
    ::unlink(tmpl);
    REQUIRE(rc == 0);
    return out;
}

void append_events(Spool& spool, int n) {
    for (int i = 0; i < n; ++i) {
        const auto id = fmt::format("ev-{}", i);
        REQUIRE(spool.append(EventKind::Event, id, kEventTimeNs + static_cast<std::uint64_t>(i),
                             fmt::format(R"({{"event":{{"id":"{}","kind":"event"}}}})", id)));
    }
}

// Runs the loop until `done` holds or 20 s pass (a hang guard, not a timing assertion).
template <class F>
bool run_until(boost::asio::io_context& io, F done) {
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        io.restart();
        io.run_for(10ms);
    }
    return true;
}

SinksConfig hec_config(const TestDir& d, const siemtest::HecReceiver& rx) {
    const auto token = (d.path / "hec.token").string();
    std::ofstream(token) << rx.token << "\n";
    ::chmod(token.c_str(), 0600);
    const auto yaml = YAML::Load(fmt::format(R"(
- type: hec
  name: splunk
  url: {}
  token_file: {}
  batch: {{max_events: 10, idle_poll: 10ms}}
  retry: {{initial: 10ms, max: 20ms}}
)", rx.url(), token));
    auto parsed = parse_sinks_config(yaml, "test.yaml");
    REQUIRE(parsed);
    return std::move(parsed).value();
}

// samples of one parsed family keyed by their labels (as JSON text) -> value
std::map<std::string, json> samples(const json& parsed, const std::string& family, const std::string& name = "") {
    std::map<std::string, json> out;
    REQUIRE(parsed.contains(family));
    for (const auto& s : parsed[family]["samples"])
        if (name.empty() || s[0] == name) out[s[1].dump()] = s[2];
    return out;
}

const std::string kSplunk = R"({"sink":"splunk","type":"hec"})";

}  // namespace

TEST_CASE("sink metrics: counts after 30 events in 3 batches with one 503 are exact", "[metrics][sinks]") {
    TestDir d;
    auto spool = Spool::open(d.path / "spool");
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.inject(1, {503, R"({"text":"Server is busy","code":9})", "0"});
    append_events(**spool, 30);
    boost::asio::io_context io;
    auto delivery = start_siem_delivery(io, **spool, hec_config(d, rx));
    REQUIRE(delivery);
    MetricsRegistry registry;
    add_sink_metrics(registry, **delivery, **spool);
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 30; }));
    const auto parsed = json::parse(run_parser(registry.expose()));
    (*delivery)->stop();
    INFO(parsed.dump(2));

    CHECK(rx.ids().size() == 30);
    CHECK(samples(parsed, "modelwarden_sink_events_sent") == std::map<std::string, json>{{kSplunk, 30.0}});
    CHECK(samples(parsed, "modelwarden_sink_events_acked") == std::map<std::string, json>{{kSplunk, 30.0}});
    CHECK(samples(parsed, "modelwarden_sink_batches") == std::map<std::string, json>{{kSplunk, 3.0}});
    CHECK(samples(parsed, "modelwarden_sink_retries") == std::map<std::string, json>{{kSplunk, 1.0}});
    CHECK(samples(parsed, "modelwarden_sink_dead_lettered") == std::map<std::string, json>{{kSplunk, 0.0}});
    CHECK(samples(parsed, "modelwarden_sink_errors") ==
          std::map<std::string, json>{{R"({"kind":"auth","sink":"splunk","type":"hec"})", 0.0},
                                      {R"({"kind":"network","sink":"splunk","type":"hec"})", 0.0},
                                      {R"({"kind":"rejected","sink":"splunk","type":"hec"})", 0.0},
                                      {R"({"kind":"server","sink":"splunk","type":"hec"})", 0.0},
                                      {R"({"kind":"throttled","sink":"splunk","type":"hec"})", 1.0},
                                      {R"({"kind":"tls","sink":"splunk","type":"hec"})", 0.0}});
    // One latency observation per completed batch; the +Inf bucket holds them all.
    CHECK(parsed["modelwarden_sink_send_latency_seconds"]["type"] == "histogram");
    CHECK(samples(parsed, "modelwarden_sink_send_latency_seconds", "modelwarden_sink_send_latency_seconds_count") ==
          std::map<std::string, json>{{kSplunk, 3.0}});
    CHECK(samples(parsed, "modelwarden_sink_send_latency_seconds", "modelwarden_sink_send_latency_seconds_bucket")
              .at(R"({"le":"+Inf","sink":"splunk","type":"hec"})") == 3.0);
    CHECK(parsed["modelwarden_sink_send_latency_seconds"]["samples"].size() == 13 + 2);
    CHECK(samples(parsed, "modelwarden_sink_pending_records") == std::map<std::string, json>{{kSplunk, 0.0}});
    CHECK(samples(parsed, "modelwarden_sink_oldest_pending_age_seconds") == std::map<std::string, json>{{kSplunk, 0.0}});
    CHECK(samples(parsed, "modelwarden_sink_oldest_pending_timestamp_seconds").empty());
    // A success happened: both its time and its age are there (their values are clock readings).
    CHECK(samples(parsed, "modelwarden_sink_last_success_timestamp_seconds").count(kSplunk) == 1);
    CHECK(samples(parsed, "modelwarden_sink_last_success_age_seconds").count(kSplunk) == 1);
}

TEST_CASE("sink metrics: a receiver that is down leaves every record pending, counted by kind", "[metrics][sinks]") {
    TestDir d;
    auto spool = Spool::open(d.path / "spool");
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.set_down(true);
    append_events(**spool, 25);
    boost::asio::io_context io;
    auto delivery = start_siem_delivery(io, **spool, hec_config(d, rx));
    REQUIRE(delivery);
    MetricsRegistry registry;
    add_sink_metrics(registry, **delivery, **spool);
    const auto& stats = *(*delivery)->sinks().at(0).stats;
    REQUIRE(run_until(io, [&] { return stats.errors_network.load() >= 3; }));
    (*delivery)->stop();
    const std::uint64_t errors = stats.errors_network.load();
    const auto parsed = json::parse(run_parser(registry.expose()));
    INFO(parsed.dump(2));

    CHECK(rx.ids().empty());
    CHECK(samples(parsed, "modelwarden_sink_events_sent") == std::map<std::string, json>{{kSplunk, 0.0}});
    CHECK(samples(parsed, "modelwarden_sink_batches") == std::map<std::string, json>{{kSplunk, 0.0}});
    CHECK(samples(parsed, "modelwarden_sink_errors").at(R"({"kind":"network","sink":"splunk","type":"hec"})") ==
          static_cast<double>(errors));
    // Every failed attempt is followed by exactly one resend (the loop was stopped in the backoff).
    CHECK(samples(parsed, "modelwarden_sink_retries") == std::map<std::string, json>{{kSplunk, static_cast<double>(errors)}});
    CHECK(samples(parsed, "modelwarden_sink_pending_records") == std::map<std::string, json>{{kSplunk, 25.0}});
    // The batch in hand starts with the first record: its event time, exactly.
    CHECK(samples(parsed, "modelwarden_sink_oldest_pending_timestamp_seconds") ==
          std::map<std::string, json>{{kSplunk, 1'700'000'000.0}});
    CHECK(samples(parsed, "modelwarden_sink_oldest_pending_age_seconds").at(kSplunk).get<double>() > 0);
    CHECK(samples(parsed, "modelwarden_sink_send_latency_seconds", "modelwarden_sink_send_latency_seconds_count") ==
          std::map<std::string, json>{{kSplunk, 0.0}});
    // Never succeeded: no last-success sample rather than a made-up one.
    CHECK(samples(parsed, "modelwarden_sink_last_success_timestamp_seconds").empty());
    CHECK(samples(parsed, "modelwarden_sink_last_success_age_seconds").empty());
}
