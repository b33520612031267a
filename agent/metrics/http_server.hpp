// Loopback HTTP endpoint for Prometheus: /metrics, /healthz, /readyz, served asynchronously
// on the daemon's io_context (Boost.Beast).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/result.hpp"
#include "metrics/registry.hpp"

namespace mw {

struct MetricsServerOptions {
    std::string address = "127.0.0.1";   // IPv4 or IPv6 literal
    std::uint16_t port = 9464;             // 0 = any free port (see MetricsServer::port())
    bool allow_non_loopback = false;       // metrics reveal policy and workload names: loopback unless asked
    std::function<bool()> ready;           // /readyz: 200 when it returns true (absent = ready)
    std::function<bool()> healthy;         // /healthz: 200 when it returns true (absent = alive)
};

class MetricsServer {
public:
    MetricsServer(boost::asio::io_context& io, MetricsRegistry& registry, MetricsServerOptions options);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Binds and starts accepting; errors name the address and the errno text.
    Result<void> start();
    // Stops accepting; connections in flight finish on their own (each has a timeout).
    void stop();
    std::uint16_t port() const;

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace mw
