// Ring-buffer polling inside the single Asio event loop (secagentd's shape).
#include "ring_buffer.hpp"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mw::sensors {

RingBufferReader::RingBufferReader(boost::asio::io_context& io, Handler handler)
    : descriptor_(io), handler_(std::move(handler))
{
}

Result<std::unique_ptr<RingBufferReader>> RingBufferReader::create(boost::asio::io_context& io, int map_fd,
                                                                  Handler handler)
{
    if (map_fd < 0) return make_error("sensors: ring buffer map is not loaded", EBADF);
    if (!handler) return make_error("sensors: ring buffer handler is empty", EINVAL);
    std::unique_ptr<RingBufferReader> reader(new RingBufferReader(io, std::move(handler)));
    reader->rb_ = ring_buffer__new(map_fd, &RingBufferReader::on_record, reader.get(), nullptr);
    if (!reader->rb_) {
        int err = errno;
        return make_error(fmt::format("sensors: cannot create ring buffer reader for map fd {}: {}", map_fd,
                                      std::strerror(err)),
                          err);
    }
    int epoll_fd = ::dup(ring_buffer__epoll_fd(reader->rb_));
    if (epoll_fd < 0) {
        int err = errno;
        return make_error(fmt::format("sensors: cannot dup ring buffer epoll fd: {}", std::strerror(err)), err);
    }
    boost::system::error_code ec;
    reader->descriptor_.assign(epoll_fd, ec);
    if (ec) {
        ::close(epoll_fd);
        return make_error(fmt::format("sensors: cannot watch ring buffer epoll fd: {}", ec.message()), ec.value());
    }
    return reader;
}

RingBufferReader::~RingBufferReader()
{
    // Teardown order: cancel the wait, close our dup, then free libbpf's ring buffer.
    stop();
    boost::system::error_code ec;
    descriptor_.close(ec);
    if (rb_) ring_buffer__free(rb_);
}

int RingBufferReader::on_record(void* ctx, void* data, std::size_t size)
{
    auto* self = static_cast<RingBufferReader*>(ctx);
    ++self->records_;
    try {
        self->handler_(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
    } catch (const std::exception& e) {
        // An exception must not unwind through libbpf's C frames.
        spdlog::error("sensors: ring buffer handler threw: {}", e.what());
    } catch (...) {
        spdlog::error("sensors: ring buffer handler threw a non-exception");
    }
    return 0;
}

Result<int> RingBufferReader::drain()
{
    int n = ring_buffer__consume(rb_);
    if (n < 0) return make_error(fmt::format("sensors: ring buffer consume failed: {}", std::strerror(-n)), -n);
    return n;
}

void RingBufferReader::start()
{
    if (running_) return;
    running_ = true;
    arm();
}

void RingBufferReader::stop()
{
    if (!running_) return;
    running_ = false;
    boost::system::error_code ec;
    descriptor_.cancel(ec);
}

void RingBufferReader::arm()
{
    descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
        if (ec == boost::asio::error::operation_aborted || !running_) return;
        if (ec) {
            spdlog::error("sensors: ring buffer wait failed: {}", ec.message());
            running_ = false;
            return;
        }
        if (auto n = drain(); !n) spdlog::error("{}", n.error().message);
        arm();
    });
}

}  // namespace mw::sensors
