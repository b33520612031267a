// RingBufferReader: the events ring buffer in the daemon's io_context. libbpf owns
// the epoll fd; a dup of it waits in a posix::stream_descriptor, so cancel/close on
// the Asio side never touches libbpf's descriptor.
#pragma once

#include "common/result.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

struct ring_buffer;

namespace mw::sensors {

class RingBufferReader {
public:
    // Called once per record; must not throw (it runs inside a libbpf callback).
    using Handler = std::function<void(std::span<const std::byte>)>;

    // map_fd: Sensors::events_map_fd(). The reader must be destroyed before the Sensors.
    static Result<std::unique_ptr<RingBufferReader>> create(boost::asio::io_context& io, int map_fd, Handler handler);

    RingBufferReader(const RingBufferReader&) = delete;
    RingBufferReader& operator=(const RingBufferReader&) = delete;
    ~RingBufferReader();

    void start();   // arm the asynchronous wait; each wake-up drains what is there
    void stop();    // cancel the wait (idempotent)
    Result<int> drain();  // consume everything available now; returns the record count

    std::uint64_t records() const { return records_; }

private:
    RingBufferReader(boost::asio::io_context& io, Handler handler);
    static int on_record(void* ctx, void* data, std::size_t size);
    void arm();

    boost::asio::posix::stream_descriptor descriptor_;
    Handler handler_;
    ring_buffer* rb_ = nullptr;
    bool running_ = false;
    std::uint64_t records_ = 0;
};

}  // namespace mw::sensors
