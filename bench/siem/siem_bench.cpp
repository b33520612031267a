// SIEM delivery benchmarks: spool append with the default fsync policy, and sustained delivery
// (read, encode, gzip, HTTP, ack) to the local HEC and _bulk receivers from one event loop.
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "receivers.hpp"
#include "sinks/bulk_sink.hpp"
#include "sinks/hec_sink.hpp"
#include "spool/spool.hpp"
#include "test_dir.hpp"

using namespace mw;
using namespace std::chrono_literals;

namespace {
// A typical process-exec ECS event, ~450 bytes.
std::string sample(std::uint64_t i) {
    return fmt::format(
        R"({{"@timestamp":"2026-11-22T00:00:00.000000Z","event":{{"id":"ev-{}","kind":"event","category":["process"],)"
        R"("type":["start"],"action":"exec","outcome":"success"}},"process":{{"pid":{},"entity_id":"mw-1-{}",)"
        R"("executable":"/usr/bin/python3","name":"python3","args":["python3","-m","vllm.entrypoints.api_server"],)"
        R"("parent":{{"pid":1,"executable":"/usr/lib/systemd/systemd"}}}},"host":{{"name":"gpu-node-7"}}}})",
        i, 1000 + i % 30000, i);
}

void BM_SpoolAppend(benchmark::State& state) {
    spdlog::set_level(spdlog::level::warn);
    TestDir d;
    auto s = Spool::open(d.path);  // defaults: 8 MiB segments, fsync every 100 ms
    std::string json = sample(1);
    std::uint64_t i = 0;
    for (auto _ : state) {
        auto r = (*s)->append(EventKind::Event, "ev-123456", 1, json);
        benchmark::DoNotOptimize(r);
        ++i;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(i));
    state.SetBytesProcessed(static_cast<std::int64_t>(i * json.size()));
}
BENCHMARK(BM_SpoolAppend);

template <class MakeSink>
void deliver(benchmark::State& state, MakeSink make, const char* consumer) {
    spdlog::set_level(spdlog::level::warn);
    const std::uint64_t n = 50'000;
    std::uint64_t total = 0;
    for (auto _ : state) {
        state.PauseTiming();
        TestDir d;
        SpoolOptions so;
        auto s = Spool::open(d.path, so);
        for (std::uint64_t i = 0; i < n; ++i) (void)(*s)->append(EventKind::Event, fmt::format("ev-{}", i), 1, sample(i));
        boost::asio::io_context io;
        auto sink = make(io, **s);
        state.ResumeTiming();
        sink->start();
        while ((*s)->acked(consumer) < n) {
            io.restart();
            io.run_for(5ms);
        }
        state.PauseTiming();
        sink->stop();
        total += n;
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(total));
}

void BM_HecDeliveryGzip(benchmark::State& state) {
    siemtest::HecReceiver rx;
    rx.max_content_length = 64 << 20;
    deliver(
        state,
        [&](boost::asio::io_context& io, Spool& s) {
            HecOptions o;
            o.url = rx.url();
            o.token = rx.token;
            o.batch.idle_poll = 1ms;
            return HecSink::create(io, s, o).value();
        },
        "splunk");
}
BENCHMARK(BM_HecDeliveryGzip)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BulkDeliveryGzip(benchmark::State& state) {
    siemtest::BulkReceiver rx;
    deliver(
        state,
        [&](boost::asio::io_context& io, Spool& s) {
            BulkOptions o;
            o.url = rx.url();
            o.api_key = rx.api_key;
            o.batch.idle_poll = 1ms;
            return BulkSink::create(io, s, o).value();
        },
        "elasticsearch");
}
BENCHMARK(BM_BulkDeliveryGzip)->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
