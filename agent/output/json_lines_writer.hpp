// JsonLinesWriter: buffered JSON Lines output to stdout and/or an append-only file, flushed
// at once for alerts and otherwise by size or age; reopen() follows logrotate's rename.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mw {

struct JsonLinesWriterConfig {
    bool to_stdout = false;
    std::string path;                                  // empty = no file
    std::size_t buffer_bytes = 256 * 1024;             // flush when this much is pending
    std::chrono::milliseconds flush_interval{1000};    // oldest pending line waits at most this long
};

struct JsonLinesWriterStats {
    std::uint64_t lines = 0;
    std::uint64_t bytes = 0;
    std::uint64_t flushes = 0;
    std::uint64_t write_errors = 0;
    std::uint64_t lines_dropped = 0;   // lost because a write failed
};

class JsonLinesWriter {
public:
    // Opens the file (O_APPEND | O_CREAT | O_CLOEXEC, mode 0640). Fails with the path and errno text.
    static Result<std::unique_ptr<JsonLinesWriter>> open(JsonLinesWriterConfig config);
    ~JsonLinesWriter();
    JsonLinesWriter(const JsonLinesWriter&) = delete;
    JsonLinesWriter& operator=(const JsonLinesWriter&) = delete;

    // Appends `line` and a newline. urgent (alerts) flushes now; otherwise flushes when the
    // buffer is full or the flush interval has passed. No allocation once the buffer exists.
    Result<void> write(std::string_view line, bool urgent = false);
    Result<void> flush();
    // For a periodic timer: flushes when the oldest pending line is older than the interval.
    Result<void> tick();
    // Flushes, then closes and reopens the path (after logrotate moved the file away).
    Result<void> reopen();

    const JsonLinesWriterStats& stats() const { return stats_; }
    const std::string& path() const { return config_.path; }

private:
    explicit JsonLinesWriter(JsonLinesWriterConfig config);
    Result<void> open_file();
    Result<void> write_all(int fd, std::string_view data);

    JsonLinesWriterConfig config_;
    int file_fd_ = -1;
    std::string buffer_;
    std::uint64_t pending_lines_ = 0;
    std::chrono::steady_clock::time_point oldest_pending_{};
    JsonLinesWriterStats stats_;
};

}  // namespace mw
