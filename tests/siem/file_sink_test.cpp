// File and stdout sinks: exact JSON Lines content, rotation by size with N files kept, and
// acknowledgement in the spool only after the lines are written.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "sinks/file_sink.hpp"
#include "spool/spool.hpp"
#include "test_dir.hpp"

using namespace mw;
using namespace std::chrono_literals;

namespace {

// Exactly 99 bytes of JSON, so every line (with its newline) is 100 bytes.
std::string ecs(int i) {
    std::string s = fmt::format(R"({{"event":{{"id":"ev-{:04}","kind":"event"}},"message":")", i);
    s.append(99 - s.size() - 2, 'x');
    s += "\"}";
    REQUIRE(s.size() == 99);
    return s;
}

void append_n(Spool& s, int from, int to) {
    for (int i = from; i < to; ++i)
        REQUIRE(s.append(EventKind::Event, fmt::format("ev-{:04}", i), 1'700'000'000'000'000'000ull + i, ecs(i)));
}

template <class F>
bool run_until(boost::asio::io_context& io, F done) {
    auto end = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        io.restart();
        io.run_for(10ms);
    }
    return true;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::vector<std::string> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::vector<std::string> expected(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back(ecs(i));
    return out;
}

}  // namespace

TEST_CASE("file sink writes every spooled event as one line and acknowledges it", "[file_sink]") {
    TestDir dir;
    auto spool = Spool::open(dir.path / "spool");
    REQUIRE(spool.ok());
    append_n(**spool, 0, 25);
    boost::asio::io_context io;
    FileSinkOptions o;
    o.path = (dir.path / "events.jsonl").string();
    o.batch.max_events = 7;  // several batches
    o.batch.idle_poll = 10ms;
    auto sink = FileSink::create(io, **spool, o);
    REQUIRE(sink.ok());
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().acked == 25; }));
    CHECK(lines_of(o.path) == expected(0, 25));
    CHECK((*spool)->acked("file") == 25);
    CHECK((*sink)->stats().sent == 25);
    CHECK((*sink)->rotations() == 0);

    // Later appends continue the same file; notify() wakes the sink.
    append_n(**spool, 25, 30);
    (*sink)->notify();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().acked == 30; }));
    CHECK(lines_of(o.path) == expected(0, 30));
    (*sink)->stop();
    io.restart();
    io.run_for(50ms);
}

TEST_CASE("file sink rotates by size and keeps N old files", "[file_sink]") {
    TestDir dir;
    auto spool = Spool::open(dir.path / "spool");
    REQUIRE(spool.ok());
    append_n(**spool, 0, 35);
    boost::asio::io_context io;
    FileSinkOptions o;
    o.path = (dir.path / "events.jsonl").string();
    o.max_bytes = 1000;  // ten 100-byte lines per file
    o.keep = 2;
    o.batch.max_events = 4;
    o.batch.idle_poll = 10ms;
    auto sink = FileSink::create(io, **spool, o);
    REQUIRE(sink.ok());
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().acked == 35; }));
    CHECK((*sink)->rotations() == 3);
    CHECK(lines_of(o.path) == expected(30, 35));
    CHECK(lines_of(o.path + ".1") == expected(20, 30));
    CHECK(lines_of(o.path + ".2") == expected(10, 20));
    CHECK_FALSE(std::filesystem::exists(o.path + ".3"));  // 0..9 fell off the end
    CHECK(std::filesystem::file_size(o.path + ".1") == 1000);
    (*sink)->stop();
    io.restart();
    io.run_for(50ms);
}

TEST_CASE("file sink with keep 0 truncates instead of keeping", "[file_sink]") {
    TestDir dir;
    auto spool = Spool::open(dir.path / "spool");
    REQUIRE(spool.ok());
    append_n(**spool, 0, 15);
    boost::asio::io_context io;
    FileSinkOptions o;
    o.path = (dir.path / "events.jsonl").string();
    o.max_bytes = 1000;
    o.keep = 0;
    o.batch.idle_poll = 10ms;
    auto sink = FileSink::create(io, **spool, o);
    REQUIRE(sink.ok());
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().acked == 15; }));
    CHECK(lines_of(o.path) == expected(10, 15));
    CHECK_FALSE(std::filesystem::exists(o.path + ".1"));
    (*sink)->stop();
    io.restart();
    io.run_for(50ms);
}

TEST_CASE("file sink refuses a path it cannot open", "[file_sink]") {
    TestDir dir;
    auto spool = Spool::open(dir.path / "spool");
    REQUIRE(spool.ok());
    boost::asio::io_context io;
    FileSinkOptions o;
    o.path = (dir.path / "missing-dir" / "events.jsonl").string();
    auto sink = FileSink::create(io, **spool, o);
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().message == "sinks: file: cannot open " + o.path + ": No such file or directory");
}

TEST_CASE("stdout sink writes JSON Lines to its descriptor", "[file_sink]") {
    TestDir dir;
    auto spool = Spool::open(dir.path / "spool");
    REQUIRE(spool.ok());
    append_n(**spool, 0, 12);
    const auto out_path = dir.path / "stdout.txt";
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    boost::asio::io_context io;
    StdoutSinkOptions o;
    o.batch.idle_poll = 10ms;
    auto sink = StdoutSink::create(io, **spool, o, fd);
    REQUIRE(sink.ok());
    (*sink)->start();
    REQUIRE(run_until(io, [&] { return (*sink)->stats().acked == 12; }));
    ::close(fd);
    CHECK(lines_of(out_path) == expected(0, 12));
    CHECK((*spool)->acked("stdout") == 12);
    (*sink)->stop();
    io.restart();
    io.run_for(50ms);
}
