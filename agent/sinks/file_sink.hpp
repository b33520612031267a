// FileSink and StdoutSink: local spool consumers writing one JSON document per line (JSON Lines),
// the file one rotated by size with N old files kept (path.1 newest ... path.N oldest).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sinks/sink.hpp"

namespace mw {

// Event shape on the wire: the spool's ECS line as is, or OCSF 1.8.0 translated at send time.
enum class SinkFormat : std::uint8_t { Ecs, Ocsf };

struct FileSinkOptions {
    std::string name = "file";
    std::string path;
    std::uint64_t max_bytes = 100ull << 20;  // rotate before a write would pass this; 0 = never
    unsigned keep = 5;                       // rotated files kept; 0 = truncate instead of keeping
    bool fsync = true;                       // fdatasync before acknowledging a batch in the spool
    SinkFormat format = SinkFormat::Ecs;
    BatchOptions batch;
    RetryOptions retry;
    std::string dead_letter_path;
};

struct StdoutSinkOptions {
    std::string name = "stdout";
    SinkFormat format = SinkFormat::Ecs;
    BatchOptions batch;
    RetryOptions retry;
};

class FileSink final : public SpoolSink {
public:
    static Result<std::unique_ptr<FileSink>> create(boost::asio::io_context& io, Spool& spool, FileSinkOptions o);
    ~FileSink() override;
    std::uint64_t rotations() const { return rotations_; }

private:
    FileSink(boost::asio::io_context& io, Spool& spool, FileSinkOptions o);
    boost::asio::awaitable<BatchOutcome> send(std::span<const SpoolRecord* const> batch) override;
    Result<void> open_file();
    Result<void> rotate();

    FileSinkOptions opt_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::uint64_t rotations_ = 0;
    std::string buf_;
};

class StdoutSink final : public SpoolSink {
public:
    // `fd` is for tests; the daemon writes to STDOUT_FILENO.
    static Result<std::unique_ptr<StdoutSink>> create(boost::asio::io_context& io, Spool& spool, StdoutSinkOptions o,
                                                      int fd = 1);

private:
    StdoutSink(boost::asio::io_context& io, Spool& spool, StdoutSinkOptions o, int fd);
    boost::asio::awaitable<BatchOutcome> send(std::span<const SpoolRecord* const> batch) override;

    StdoutSinkOptions opt_;
    int fd_;
    std::string buf_;
};

// Appends one record as a JSON line in `format` (OCSF falls back to the ECS document for records
// without an OCSF class, see append_ocsf_or_ecs); false (with the reason) if it cannot be written.
bool append_json_line(std::string& out, const SpoolRecord& r, SinkFormat format, std::string& why);

}  // namespace mw
