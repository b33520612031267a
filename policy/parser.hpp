// YAML -> PolicySet. Strict: unknown keys, duplicate keys, wrong types, bad globs,
// CIDRs or ports are errors with file:line:column, all of them reported, and a set with
// any error yields no policies at all (the agent never runs half-configured).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace mw::policy {

struct Diagnostic {
    std::string file;
    int line = 0;    // 1-based; 0 = whole file
    int column = 0;  // 1-based
    std::string message;
    bool unreadable = false;  // the file could not be read at all (check exits 2)

    std::string str() const;  // "file:line:column: message"
};

struct ParseOptions {
    std::string passwd_path = "/etc/passwd";     // for ~ expansion
    std::size_t max_file_bytes = 4u << 20;       // a policy is kilobytes; refuse giant inputs
    std::size_t max_errors = 100;                // then "too many errors"
};

struct ParseReport {
    PolicySet policies;                // empty whenever errors is not
    std::vector<Diagnostic> errors;

    bool ok() const { return errors.empty(); }
    bool any_unreadable() const;
};

// One YAML text (possibly several `---` documents); origin names it in messages.
ParseReport parse_policy_text(std::string_view text, const std::string& origin, const ParseOptions& opts = {});

// Files and directories (a directory contributes its *.yaml and *.yml files, sorted by
// name, not recursive), parsed as one set: policy names must be unique across all of them.
ParseReport parse_policy_paths(const std::vector<std::string>& paths, const ParseOptions& opts = {});

// parse_policy_paths for the daemon: the set, or one Error whose message lists every
// diagnostic on its own line. An empty set is an error too.
Result<PolicySet> load_policy_set(const std::vector<std::string>& paths, const ParseOptions& opts = {});

}  // namespace mw::policy
