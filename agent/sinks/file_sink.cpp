// FileSink and StdoutSink (see file_sink.hpp): plain write(2) loops on the event-loop thread;
// a batch is acknowledged in the spool only after it is fully written (and synced for files).
#include "sinks/file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sinks/ocsf_encoder.hpp"

namespace mw {

namespace asio = boost::asio;

namespace {

Result<void> write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return make_error(std::strerror(errno), errno);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

// The whole batch again, except what was already dead-lettered.
BatchOutcome resend_all(BatchOutcome out, std::size_t n, std::string reason) {
    std::vector<bool> dead(n, false);
    for (auto& d : out.dead) dead[d.first] = true;
    out.dead.clear();
    for (std::uint32_t i = 0; i < n; ++i)
        if (!dead[i]) out.resend.push_back(i);
    out.reason = std::move(reason);
    return out;
}

}  // namespace

bool append_json_line(std::string& out, const SpoolRecord& r, SinkFormat format, std::string& why) {
    if (format == SinkFormat::Ecs) {
        out += r.json;
        out += '\n';
        return true;
    }
    if (!append_ocsf_or_ecs(out, r.json, why))
        spdlog::debug("sinks: event {} written as ECS: {}", r.event_id, why);
    out += '\n';
    return true;
}

// ---- FileSink ----

FileSink::FileSink(asio::io_context& io, Spool& spool, FileSinkOptions o)
    : SpoolSink(io, spool, o.name, o.batch, o.retry, o.dead_letter_path), opt_(std::move(o)) {}

FileSink::~FileSink() {
    if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<FileSink>> FileSink::create(asio::io_context& io, Spool& spool, FileSinkOptions o) {
    if (o.path.empty()) return make_error("sinks: " + o.name + ": no file path configured", EINVAL);
    std::unique_ptr<FileSink> sink(new FileSink(io, spool, std::move(o)));
    if (auto r = sink->open_file(); !r) return r.error();
    return sink;
}

Result<void> FileSink::open_file() {
    if (fd_ >= 0) ::close(fd_);
    // Events name processes, files and peers: readable by root only, like the spool.
    fd_ = ::open(opt_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0)
        return make_error(fmt::format("sinks: {}: cannot open {}: {}", opt_.name, opt_.path, std::strerror(errno)),
                          errno);
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    return {};
}

Result<void> FileSink::rotate() {
    if (opt_.fsync && fd_ >= 0) ::fdatasync(fd_);
    if (opt_.keep == 0) {
        if (::ftruncate(fd_, 0) != 0)
            return make_error(fmt::format("sinks: {}: cannot truncate {}: {}", opt_.name, opt_.path,
                                          std::strerror(errno)), errno);
        size_ = 0;
        rotations_++;
        return {};
    }
    // path.(keep) falls off the end; every other file moves one step older.
    ::unlink(fmt::format("{}.{}", opt_.path, opt_.keep).c_str());
    for (unsigned i = opt_.keep; i > 1; --i)
        ::rename(fmt::format("{}.{}", opt_.path, i - 1).c_str(), fmt::format("{}.{}", opt_.path, i).c_str());
    if (::rename(opt_.path.c_str(), (opt_.path + ".1").c_str()) != 0)
        return make_error(fmt::format("sinks: {}: cannot rotate {}: {}", opt_.name, opt_.path, std::strerror(errno)),
                          errno);
    rotations_++;
    return open_file();
}

asio::awaitable<BatchOutcome> FileSink::send(std::span<const SpoolRecord* const> batch) {
    BatchOutcome out;
    if (fd_ < 0) {
        if (auto r = open_file(); !r) co_return resend_all(std::move(out), batch.size(), r.error().message);
    }
    buf_.clear();
    std::string why;
    for (std::uint32_t i = 0; i < batch.size(); ++i) {
        const std::size_t before = buf_.size();
        if (!append_json_line(buf_, *batch[i], opt_.format, why)) {
            out.dead.emplace_back(i, why);
            continue;
        }
        if (opt_.max_bytes != 0 && size_ + buf_.size() > opt_.max_bytes && size_ + before > 0) {
            // Flush what fits, then start a new file with this line.
            if (auto r = write_all(fd_, std::string_view(buf_).substr(0, before)); !r)
                co_return resend_all(std::move(out), batch.size(), fmt::format("write {}: {}", opt_.path, r.error().message));
            size_ += before;
            if (auto r = rotate(); !r) co_return resend_all(std::move(out), batch.size(), r.error().message);
            buf_.erase(0, before);
        }
    }
    if (auto r = write_all(fd_, buf_); !r)
        co_return resend_all(std::move(out), batch.size(), fmt::format("write {}: {}", opt_.path, r.error().message));
    size_ += buf_.size();
    if (opt_.fsync && ::fdatasync(fd_) != 0)
        co_return resend_all(std::move(out), batch.size(), fmt::format("fdatasync {}: {}", opt_.path, std::strerror(errno)));
    co_return out;
}

// ---- StdoutSink ----

StdoutSink::StdoutSink(asio::io_context& io, Spool& spool, StdoutSinkOptions o, int fd)
    : SpoolSink(io, spool, o.name, o.batch, o.retry, {}), opt_(std::move(o)), fd_(fd) {}

Result<std::unique_ptr<StdoutSink>> StdoutSink::create(asio::io_context& io, Spool& spool, StdoutSinkOptions o,
                                                       int fd) {
    return std::unique_ptr<StdoutSink>(new StdoutSink(io, spool, std::move(o), fd));
}

asio::awaitable<BatchOutcome> StdoutSink::send(std::span<const SpoolRecord* const> batch) {
    BatchOutcome out;
    buf_.clear();
    std::string why;
    for (std::uint32_t i = 0; i < batch.size(); ++i)
        if (!append_json_line(buf_, *batch[i], opt_.format, why)) out.dead.emplace_back(i, why);
    // A blocking write: stdout is a pipe to journald or a terminal, and a reader that stalls
    // must slow delivery rather than lose lines. A closed pipe (EPIPE) is retried slowly.
    if (auto r = write_all(fd_, buf_); !r) {
        const bool closed = r.error().code == EPIPE;
        out = resend_all(std::move(out), batch.size(), fmt::format("write stdout: {}", r.error().message));
        out.slow = closed;
        co_return out;
    }
    co_return out;
}

}  // namespace mw
