// Buffered, append-only JSON Lines output with a bounded flush delay.
#include "output/json_lines_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mw {

JsonLinesWriter::JsonLinesWriter(JsonLinesWriterConfig config) : config_(std::move(config)) {
    if (config_.buffer_bytes < 4096) config_.buffer_bytes = 4096;
    buffer_.reserve(config_.buffer_bytes);
}

JsonLinesWriter::~JsonLinesWriter() {
    (void)flush();
    if (file_fd_ >= 0) ::close(file_fd_);
}

Result<std::unique_ptr<JsonLinesWriter>> JsonLinesWriter::open(JsonLinesWriterConfig config) {
    if (!config.to_stdout && config.path.empty()) return make_error("output: no destination (stdout or file) configured", EINVAL);
    std::unique_ptr<JsonLinesWriter> w(new JsonLinesWriter(std::move(config)));
    if (!w->config_.path.empty()) {
        if (auto r = w->open_file(); !r) return r.error();
    }
    return w;
}

Result<void> JsonLinesWriter::open_file() {
    int fd = ::open(config_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        return make_error(fmt::format("output: cannot open {}: {}", config_.path, std::strerror(e)), e);
    }
    file_fd_ = fd;
    return {};
}

Result<void> JsonLinesWriter::write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            return make_error(fmt::format("output: write to {} failed: {}", fd == STDOUT_FILENO ? "stdout" : config_.path,
                                          std::strerror(e)), e);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

Result<void> JsonLinesWriter::flush() {
    if (buffer_.empty()) return {};
    Result<void> result;
    if (config_.to_stdout) {
        if (auto r = write_all(STDOUT_FILENO, buffer_); !r) result = r;
    }
    if (file_fd_ >= 0) {
        if (auto r = write_all(file_fd_, buffer_); !r) result = r;
    }
    if (!result) {
        // Log the first failure and then every 1000th, so a full disk does not flood the journal.
        if (stats_.write_errors++ % 1000 == 0) spdlog::error("{} ({} lines lost)", result.error().message, pending_lines_);
        stats_.lines_dropped += pending_lines_;
    }
    ++stats_.flushes;
    buffer_.clear();
    pending_lines_ = 0;
    return result;
}

Result<void> JsonLinesWriter::write(std::string_view line, bool urgent) {
    const auto now = std::chrono::steady_clock::now();
    if (buffer_.size() + line.size() + 1 > config_.buffer_bytes && !buffer_.empty()) {
        if (auto r = flush(); !r) return r;
    }
    if (pending_lines_ == 0) oldest_pending_ = now;
    buffer_.append(line);
    buffer_.push_back('\n');
    ++pending_lines_;
    ++stats_.lines;
    stats_.bytes += line.size() + 1;
    if (urgent || buffer_.size() >= config_.buffer_bytes || now - oldest_pending_ >= config_.flush_interval)
        return flush();
    return {};
}

Result<void> JsonLinesWriter::tick() {
    if (pending_lines_ != 0 && std::chrono::steady_clock::now() - oldest_pending_ >= config_.flush_interval)
        return flush();
    return {};
}

Result<void> JsonLinesWriter::reopen() {
    auto flushed = flush();
    if (config_.path.empty()) return flushed;
    if (file_fd_ >= 0) ::close(file_fd_);
    file_fd_ = -1;
    if (auto r = open_file(); !r) {
        spdlog::error("{}", r.error().message);
        return r;
    }
    return flushed;
}

}  // namespace mw
