// `modelwarden policy check FILE...`: validate policies and say what each one does.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "policy/parser.hpp"

namespace mw::policy {

// Prints every error as `file:line:col: message`, or one summary line per valid policy.
// Returns 0 when all are valid, 1 when any is invalid, 2 when any path is unreadable.
int run_policy_check(const std::vector<std::string>& paths, std::ostream& out, const ParseOptions& opts = {});

}  // namespace mw::policy
