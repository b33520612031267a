// Sink tests against the local HEC and _bulk receivers: exact event-id sets for each scenario
// (normal delivery, busy server, bad events, oversize, auth failure, outage, lost acks, TLS).
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "receivers.hpp"
#include "sinks/bulk_sink.hpp"
#include "sinks/hec_sink.hpp"
#include "spool/spool.hpp"
#include "test_dir.hpp"

using namespace mw;
using namespace std::chrono_literals;

namespace {

std::string ecs(int i) {
    return fmt::format(R"({{"@timestamp":"2026-11-22T00:00:00.000000Z","event":{{"id":"ev-{}","kind":"event"}},"message":"n{}"}})",
                       i, i);
}

std::set<std::string> append_n(Spool& s, int from, int to, EventKind kind = EventKind::Event) {
    std::set<std::string> ids;
    for (int i = from; i < to; ++i) {
        auto id = fmt::format("ev-{}", i);
        REQUIRE(s.append(kind, id, 1'700'000'000'000'000'000ull + i, ecs(i)));
        ids.insert(id);
    }
    return ids;
}

// Runs the loop until `done` holds or 20 s pass (a deadline for a hang, not a timing assertion).
template <class F>
bool run_until(boost::asio::io_context& io, F done) {
    auto end = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        io.restart();
        io.run_for(20ms);
    }
    return true;
}

RetryOptions fast_retry() {
    RetryOptions r;
    r.initial = 10ms;
    r.max = 50ms;
    r.auth_retry = 50ms;
    return r;
}

HecOptions hec_options(const siemtest::HecReceiver& rx, const std::string& dir) {
    HecOptions o;
    o.url = rx.url();
    o.token = rx.token;
    o.host = "host-a";
    o.index = "main";
    o.retry = fast_retry();
    o.batch.idle_poll = 10ms;
    o.ack_poll = 10ms;
    o.dead_letter_path = dir + "/dead.jsonl";
    return o;
}

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::vector<nlohmann::json> dead_letters(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
}

}  // namespace

TEST_CASE("hec: batches arrive gzip'd in Splunk's envelope and are acknowledged through ack polling", "[hec]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.ack_enabled = true;
    auto want = append_n(**spool, 0, 250);
    boost::asio::io_context io;
    auto o = hec_options(rx, d.path);
    o.ack = true;
    o.batch.max_events = 100;
    auto sink = HecSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 250; }));
    (*sink)->stop();
    CHECK(as_set(rx.ids()) == want);
    CHECK(rx.ids().size() == 250);
    CHECK(rx.acks_returned_true() == 3);
    CHECK(rx.protocol_errors().empty());
    auto ev = nlohmann::json::parse(rx.events_json().front());
    CHECK(ev["host"] == "host-a");
    CHECK(ev["source"] == "modelwarden");
    CHECK(ev["sourcetype"] == "_json");
    CHECK(ev["index"] == "main");
    CHECK(ev["time"].get<double>() == Approx(1'700'000'000.0));
    CHECK(ev["event"]["event"]["id"] == "ev-0");
    CHECK(ev["fields"]["event_kind"] == "event");
    CHECK((*sink)->stats().acked == 250);
    CHECK((*sink)->stats().dead_lettered == 0);
}

TEST_CASE("hec: 503 and 429 with Retry-After resend the same batch until accepted", "[hec]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.inject(1, {503, R"({"text":"Server is busy","code":9})", "0"});
    rx.inject(1, {429, R"({"text":"Server is busy","code":9})", ""});
    rx.inject(1, {502, "bad gateway", ""});
    auto want = append_n(**spool, 0, 40);
    boost::asio::io_context io;
    auto sink = HecSink::create(io, **spool, hec_options(rx, d.path));
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 40; }));
    CHECK(as_set(rx.ids()) == want);
    CHECK(rx.ids().size() == 40);
    CHECK((*sink)->stats().errors_throttled == 2);
    CHECK((*sink)->stats().errors_server == 1);
    CHECK((*sink)->stats().retries == 3);
}

TEST_CASE("hec: a 400 event is bisected out and dead-lettered with the reason - the rest arrive", "[hec]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.bad_event_ids = {"ev-13", "ev-27"};
    auto want = append_n(**spool, 0, 40);
    want.erase("ev-13");
    want.erase("ev-27");
    boost::asio::io_context io;
    auto o = hec_options(rx, d.path);
    auto sink = HecSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 40; }));
    CHECK(as_set(rx.ids()) == want);
    CHECK(rx.ids().size() == 38);
    auto dl = dead_letters(o.dead_letter_path);
    REQUIRE(dl.size() == 2);
    CHECK(dl[0]["event_id"] == "ev-13");
    CHECK(dl[1]["event_id"] == "ev-27");
    CHECK(dl[0]["reason"].get<std::string>().find("Invalid data format") != std::string::npos);
    CHECK(dl[0]["event_json"] == ecs(13));
    CHECK((*sink)->stats().dead_lettered == 2);
}

TEST_CASE("hec: 413 splits the batch - a single oversized event is dead-lettered", "[hec]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.max_content_length = 4000;
    auto want = append_n(**spool, 0, 60);
    std::string big = R"({"@timestamp":"x","message":")" + std::string(5000, 'a') + "\"}";
    REQUIRE((*spool)->append(EventKind::Alert, "big", 1, big));
    boost::asio::io_context io;
    auto o = hec_options(rx, d.path);
    auto sink = HecSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 61; }));
    CHECK(as_set(rx.ids()) == want);
    CHECK(rx.ids().size() == 60);
    auto dl = dead_letters(o.dead_letter_path);
    REQUIRE(dl.size() == 1);
    CHECK(dl[0]["event_id"] == "big");
    CHECK(dl[0]["reason"].get<std::string>().find("413") != std::string::npos);
}

TEST_CASE("hec: a refused token keeps the data - delivery resumes once the token is valid", "[hec]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    const std::string real = rx.token;
    rx.token = "rotated-elsewhere";
    auto want = append_n(**spool, 0, 10);
    boost::asio::io_context io;
    auto o = hec_options(rx, d.path);
    o.token = real;
    auto sink = HecSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_auth >= 2; }));
    CHECK((*spool)->acked("splunk") == 0);
    CHECK(rx.ids().empty());
    CHECK((*sink)->stats().dead_lettered == 0);
    {
        // The operator fixes the token on the Splunk side.
        rx.token = real;
    }
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 10; }));
    CHECK(as_set(rx.ids()) == want);
}

TEST_CASE("hec: receiver down for a while, then back: every event delivered", "[hec][reliability]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.set_down(true);
    auto want = append_n(**spool, 0, 30);
    boost::asio::io_context io;
    auto sink = HecSink::create(io, **spool, hec_options(rx, d.path));
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_network >= 3; }));
    auto more = append_n(**spool, 30, 50);
    want.insert(more.begin(), more.end());
    CHECK((*spool)->acked("splunk") == 0);
    rx.set_down(false);
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 50; }));
    CHECK(as_set(rx.ids()) == want);
}

TEST_CASE("hec: acks that never read true make the sink resend after the silence, same ids", "[hec][reliability]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;
    rx.ack_enabled = true;
    rx.acks_never_true = true;
    auto want = append_n(**spool, 0, 5);
    boost::asio::io_context io;
    auto o = hec_options(rx, d.path);
    o.ack = true;
    o.ack_timeout = 100ms;
    auto sink = HecSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return rx.ids().size() >= 10; }));
    CHECK((*spool)->acked("splunk") == 0);
    rx.acks_never_true = false;
    REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 5; }));
    CHECK(as_set(rx.ids()) == want);  // duplicates only, all with the original ids
    CHECK(rx.ids().size() % 5 == 0);
}

TEST_CASE("hec: ack configured but the token has it disabled is a configuration error, data kept", "[hec]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::HecReceiver rx;  // token without indexer acknowledgement
    append_n(**spool, 0, 3);
    boost::asio::io_context io;
    auto o = hec_options(rx, d.path);
    o.ack = true;
    auto sink = HecSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_auth >= 2; }));
    CHECK((*spool)->acked("splunk") == 0);
    CHECK((*sink)->stats().dead_lettered == 0);
}

TEST_CASE("bulk: NDJSON create actions into data streams with _id = event id", "[bulk]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::BulkReceiver rx;
    auto want = append_n(**spool, 0, 30);
    auto alerts = append_n(**spool, 30, 35, EventKind::Alert);
    boost::asio::io_context io;
    BulkOptions o;
    o.url = rx.url();
    o.api_key = rx.api_key;
    o.retry = fast_retry();
    o.batch.idle_poll = 10ms;
    auto sink = BulkSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*spool)->acked("elasticsearch") == 35; }));
    auto docs = rx.documents();
    auto idx = rx.document_index();
    REQUIRE(docs.size() == 35);
    for (auto& id : want) CHECK(idx[id] == "logs-modelwarden.events-default");
    for (auto& id : alerts) CHECK(idx[id] == "logs-modelwarden.alerts-default");
    CHECK(docs["ev-7"] == ecs(7));
    CHECK(rx.protocol_errors().empty());
}

TEST_CASE("bulk: partial failures: 409 is success, 429 items resent alone, 400 items dead-lettered", "[bulk][reliability]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::BulkReceiver rx;
    rx.preload("logs-modelwarden.events-default", "ev-3");
    rx.busy_ids = {{"ev-5", 2}, {"ev-6", 1}};
    rx.mapping_error_ids = {"ev-8"};
    auto want = append_n(**spool, 0, 12);
    boost::asio::io_context io;
    BulkOptions o;
    o.url = rx.url();
    o.api_key = rx.api_key;
    o.retry = fast_retry();
    o.batch.idle_poll = 10ms;
    o.dead_letter_path = d.path.string() + "/dead.jsonl";
    auto sink = BulkSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*spool)->acked("elasticsearch") == 12; }));
    auto docs = rx.documents();
    std::set<std::string> got;
    for (auto& [id, _] : docs) got.insert(id);
    want.erase("ev-8");
    CHECK(got == want);
    CHECK(docs["ev-3"] == "{}");  // the pre-existing document was not overwritten
    auto attempts = rx.ids();
    CHECK(std::count(attempts.begin(), attempts.end(), "ev-5") == 3);
    CHECK(std::count(attempts.begin(), attempts.end(), "ev-6") == 2);
    CHECK(std::count(attempts.begin(), attempts.end(), "ev-0") == 1);  // accepted items are not resent
    auto dl = dead_letters(o.dead_letter_path);
    REQUIRE(dl.size() == 1);
    CHECK(dl[0]["event_id"] == "ev-8");
    CHECK(dl[0]["reason"].get<std::string>().find("document_parsing_exception") != std::string::npos);
}

TEST_CASE("bulk: wrong API key keeps data and retries - whole-request 503 is retried", "[bulk]") {
    TestDir d;
    auto spool = Spool::open(d.path);
    REQUIRE(spool);
    siemtest::BulkReceiver rx;
    rx.inject(1, {503, R"({"error":"unavailable","status":503})", "0"});
    auto want = append_n(**spool, 0, 5);
    boost::asio::io_context io;
    BulkOptions o;
    o.url = rx.url();
    o.api_key = "d3Jvbmc6a2V5";
    o.retry = fast_retry();
    o.batch.idle_poll = 10ms;
    auto sink = BulkSink::create(io, **spool, o);
    REQUIRE(sink);
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_auth >= 2; }));
    CHECK((*sink)->stats().errors_throttled == 1);
    CHECK((*spool)->acked("elasticsearch") == 0);
    rx.api_key = "d3Jvbmc6a2V5";
    REQUIRE(run_until(io, [&] { return (*spool)->acked("elasticsearch") == 5; }));
    CHECK(rx.documents().size() == 5);
}

TEST_CASE("tls: HEC over HTTPS verifies the peer - an unverifiable peer gets nothing", "[hec][tls]") {
    TestDir d;
    siemtest::TestPki pki;
    REQUIRE(pki.make(d.path.string()));
    auto spool = Spool::open(d.path / "spool");
    REQUIRE(spool);
    siemtest::HecReceiver rx(pki.server_cert, pki.server_key);
    auto want = append_n(**spool, 0, 5);
    boost::asio::io_context io;
    SECTION("trusted CA") {
        auto o = hec_options(rx, d.path);
        o.tls.ca_file = pki.ca;
        auto sink = HecSink::create(io, **spool, o);
        REQUIRE(sink);
        (*sink)->start();
        REQUIRE(run_until(io, [&] { return (*spool)->acked("splunk") == 5; }));
        CHECK(as_set(rx.ids()) == want);
    }
    SECTION("unrelated CA") {
        auto o = hec_options(rx, d.path);
        o.tls.ca_file = pki.other_ca;
        auto sink = HecSink::create(io, **spool, o);
        REQUIRE(sink);
        (*sink)->start();
        REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_tls >= 2; }));
        CHECK(rx.requests() == 0);
        CHECK((*spool)->acked("splunk") == 0);
    }
    SECTION("name mismatch") {
        auto o = hec_options(rx, d.path);
        o.tls.ca_file = pki.ca;
        o.tls.server_name = "splunk.example";
        auto sink = HecSink::create(io, **spool, o);
        REQUIRE(sink);
        (*sink)->start();
        REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_tls >= 2; }));
        CHECK(rx.requests() == 0);
    }
}
