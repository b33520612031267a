// Agent: the daemon. One io_context runs everything: the ring buffer, timers, signals,
// and (when configured) the control API and metrics. Start-up order is open -> load ->
// attach -> mark running workloads -> ready; teardown reverses it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "daemon/config.hpp"

namespace mw {

struct RunOptions {
    AgentConfig config;
    std::string ready_file;   // written once the sensors are attached and workloads marked
};

// Runs until SIGINT/SIGTERM. Returns the process exit code.
int run_agent(const RunOptions& options);

}  // namespace mw
