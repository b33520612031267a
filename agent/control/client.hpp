// Client side of the control API for the CLI: `modelwarden status|events|policy ...` talk
// to the daemon's Unix socket.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace mw {

struct ControlResponse {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

// One synchronous request (30 s send/receive timeout). Errors are connection failures;
// HTTP error statuses come back as a ControlResponse.
Result<ControlResponse> control_request(const std::string& socket_path, const std::string& method,
                                        const std::string& target, const std::string& body = {},
                                        const std::vector<std::pair<std::string, std::string>>& headers = {});

// Runs one CLI verb against the socket and prints the (pretty-printed) JSON reply to `out`,
// errors to `err`. args:
//   status
//   events [--since N] [--kind K] [--limit N]
//   policy list | policy rollback | policy apply FILE [--signature SIGFILE]
// SIGFILE may hold base64 text or the raw signature bytes (`openssl pkeyutl -sign` output).
// Returns 0 on success, 1 when the daemon refused or failed the call, 2 on bad usage or an
// unreadable file, 3 when the daemon cannot be reached.
int run_control_client(const std::string& socket_path, const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err);

}  // namespace mw
