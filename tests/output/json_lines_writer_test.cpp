// JsonLinesWriter: append, flush policy, reopen after rotation, clear errors.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "output/json_lines_writer.hpp"

using namespace mw;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/mw-output-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("events are buffered and alerts flush at once", "[output][writer]") {
    TempDir dir;
    const auto file = dir.path / "events.json";
    {
        std::ofstream(file) << "{\"old\":1}\n";  // existing content is appended to, not truncated
    }
    JsonLinesWriterConfig cfg;
    cfg.path = file.string();
    cfg.buffer_bytes = 4096;
    cfg.flush_interval = std::chrono::hours(1);
    auto w = JsonLinesWriter::open(cfg);
    REQUIRE(w.ok());
    JsonLinesWriter& writer = *w.value();

    REQUIRE(writer.write("{\"a\":1}").ok());
    REQUIRE(writer.write("{\"b\":2}").ok());
    CHECK(slurp(file) == "{\"old\":1}\n");
    CHECK(writer.stats().flushes == 0);

    REQUIRE(writer.write("{\"alert\":3}", true).ok());
    CHECK(slurp(file) == "{\"old\":1}\n{\"a\":1}\n{\"b\":2}\n{\"alert\":3}\n");
    CHECK(writer.stats().lines == 3);
    CHECK(writer.stats().flushes == 1);
}

TEST_CASE("a full buffer flushes by size", "[output][writer]") {
    TempDir dir;
    JsonLinesWriterConfig cfg;
    cfg.path = (dir.path / "e.json").string();
    cfg.buffer_bytes = 4096;
    cfg.flush_interval = std::chrono::hours(1);
    auto w = JsonLinesWriter::open(cfg);
    REQUIRE(w.ok());
    const std::string line(999, 'x');  // 1000 bytes with the newline
    for (int i = 0; i < 4; ++i) REQUIRE(w.value()->write(line).ok());
    CHECK(std::filesystem::file_size(cfg.path) == 0);
    REQUIRE(w.value()->write(line).ok());  // would exceed 4096: the first four go out
    CHECK(std::filesystem::file_size(cfg.path) == 4000);
    REQUIRE(w.value()->flush().ok());
    CHECK(std::filesystem::file_size(cfg.path) == 5000);
}

TEST_CASE("tick flushes lines older than the interval", "[output][writer]") {
    TempDir dir;
    JsonLinesWriterConfig cfg;
    cfg.path = (dir.path / "e.json").string();
    cfg.flush_interval = std::chrono::milliseconds(1);
    auto w = JsonLinesWriter::open(cfg);
    REQUIRE(w.ok());
    cfg.flush_interval = std::chrono::hours(1);
    auto slow = JsonLinesWriter::open(JsonLinesWriterConfig{false, (dir.path / "slow.json").string(), 4096, std::chrono::hours(1)});
    REQUIRE(slow.ok());
    REQUIRE(w.value()->write("{}").ok());
    REQUIRE(slow.value()->write("{}").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(w.value()->tick().ok());
    REQUIRE(slow.value()->tick().ok());
    CHECK(slurp(dir.path / "e.json") == "{}\n");
    CHECK(slurp(dir.path / "slow.json") == "");
}

TEST_CASE("reopen follows logrotate's rename", "[output][writer]") {
    TempDir dir;
    const auto file = dir.path / "events.json";
    auto w = JsonLinesWriter::open(JsonLinesWriterConfig{false, file.string(), 4096, std::chrono::hours(1)});
    REQUIRE(w.ok());
    REQUIRE(w.value()->write("{\"n\":1}", true).ok());
    std::filesystem::rename(file, dir.path / "events.json.1");
    REQUIRE(w.value()->write("{\"n\":2}").ok());
    REQUIRE(w.value()->reopen().ok());  // pending line goes to the old file, then the new one opens
    REQUIRE(w.value()->write("{\"n\":3}", true).ok());
    CHECK(slurp(dir.path / "events.json.1") == "{\"n\":1}\n{\"n\":2}\n");
    CHECK(slurp(file) == "{\"n\":3}\n");
}

TEST_CASE("bad destinations fail with a clear error", "[output][writer]") {
    auto none = JsonLinesWriter::open(JsonLinesWriterConfig{});
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message == "output: no destination (stdout or file) configured");

    auto missing = JsonLinesWriter::open(JsonLinesWriterConfig{false, "/nonexistent-dir/x/events.json", 4096, std::chrono::seconds(1)});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == ENOENT);
    CHECK(missing.error().message == "output: cannot open /nonexistent-dir/x/events.json: No such file or directory");
}

TEST_CASE("write errors are counted with the lines lost", "[output][writer]") {
    REQUIRE(std::filesystem::exists("/dev/full"));
    auto w = JsonLinesWriter::open(JsonLinesWriterConfig{false, "/dev/full", 4096, std::chrono::hours(1)});
    REQUIRE(w.ok());
    REQUIRE(w.value()->write("{}").ok());
    auto r = w.value()->write("{}", true);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ENOSPC);
    CHECK(w.value()->stats().write_errors == 1);
    CHECK(w.value()->stats().lines_dropped == 2);
}
