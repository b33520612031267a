// Test driver for the crash scenario: appends events to a spool and delivers them to a HEC URL on
// one io_context, recording each acknowledged append in a progress file; the test SIGKILLs it.
// usage: siem_spool_driver <spool_dir> <hec_url> <token> <first> <count> <progress_file> [linger_ms]
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "sinks/hec_sink.hpp"
#include "spool/spool.hpp"

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    if (argc < 7) {
        std::fprintf(stderr, "usage: %s spool_dir hec_url token first count progress_file [linger_ms]\n", argv[0]);
        return 2;
    }
    auto spool = mw::Spool::open(argv[1]);
    if (!spool) {
        std::fprintf(stderr, "%s\n", spool.error().message.c_str());
        return 1;
    }
    boost::asio::io_context io;
    mw::HecOptions o;
    o.url = argv[2];
    o.token = argv[3];
    o.batch.max_events = 50;
    o.batch.idle_poll = 5ms;
    o.retry.initial = 10ms;
    o.retry.max = 50ms;
    auto sink = mw::HecSink::create(io, **spool, o);
    if (!sink) {
        std::fprintf(stderr, "%s\n", sink.error().message.c_str());
        return 1;
    }
    (*sink)->start();
    const long first = std::stol(argv[4]), count = std::stol(argv[5]);
    int progress = ::open(argv[6], O_WRONLY | O_CREAT | O_APPEND, 0600);
    for (long i = first; i < first + count; ++i) {
        auto id = fmt::format("ev-{}", i);
        auto r = (*spool)->append(mw::EventKind::Event, id, 1'700'000'000'000'000'000ull,
                                  fmt::format(R"({{"@timestamp":"2026-11-22T00:00:00Z","event":{{"id":"{}"}}}})", id));
        if (!r) return 1;
        std::string line = id + "\n";
        if (::write(progress, line.data(), line.size()) < 0) return 1;
        io.restart();
        io.run_for(1ms);
    }
    const long linger = argc > 7 ? std::stol(argv[7]) : 0;
    io.restart();
    io.run_for(std::chrono::milliseconds(linger));
    return 0;
}
