// `modelwarden policy check FILE...`: validate policies and say what each one does.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "policy/mechanism.hpp"
#include "policy/parser.hpp"

namespace mw::policy {

// Prints every error as `file:line:col: message`, or one summary line per valid policy; with
// `host`, then one line per rule: which mechanism enforces it on that host and what the
// fallback does. Returns 0 when all are valid, 1 when any is invalid, 2 when any path is unreadable.
int run_policy_check(const std::vector<std::string>& paths, std::ostream& out, const ParseOptions& opts = {},
                     const HostMechanisms* host = nullptr);

}  // namespace mw::policy
