// Path globs for policy allow lists and sensitive paths: compiled once, matched with no
// allocation. Also the `~` expansion to every home directory known at compile time.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace mw::policy {

// Syntax: `*` any run of characters except '/', `**` any run including '/' (`/**/` also
// matches a single '/', so `a/**/b` matches `a/b`), `?` one character except '/',
// `[abc]`, `[a-z]`, `[!x]` / `[^x]` one character (never '/'), `\c` a literal c.
// Matching is an NFA walk over a fixed-size state set: linear in path length, no
// backtracking, so a hostile path cannot make a pattern blow up.
class Glob {
public:
    static constexpr std::size_t kMaxElements = 511;  // wildcard patterns only

    static Result<Glob> compile(std::string_view pattern);

    bool match(std::string_view path) const noexcept;

    const std::string& pattern() const noexcept { return pattern_; }
    // Characters before the first wildcard, unescaped.
    const std::string& literal_prefix() const noexcept { return prefix_; }
    // No wildcard at all: the glob names exactly one path (literal_prefix()).
    bool is_literal() const noexcept { return elements_.empty() && !prefix_only_; }
    // The glob is `LITERAL/**`: everything under literal_prefix() (which ends in '/').
    bool is_subtree() const noexcept { return prefix_only_; }

private:
    enum class Kind : std::uint8_t { chr, any_one, cls, star, globstar, dirs };
    struct Element {
        Kind kind;
        char c = 0;
        std::uint16_t cls_index = 0;
    };

    std::string pattern_;
    std::string prefix_;
    bool prefix_only_ = false;
    std::vector<Element> elements_;             // after prefix_
    std::vector<std::bitset<256>> classes_;
};

// Home directories from a passwd file (field 6) plus /root, de-duplicated, in file order.
// Unreadable file: just /root (a container may have no passwd; root's home still matters).
std::vector<std::string> home_directories(const std::string& passwd_path = "/etc/passwd");

// `~/rest` -> one pattern per home directory; other patterns are returned unchanged.
// `~user/...` is rejected: it would silently mean nothing when the user does not exist.
Result<std::vector<std::string>> expand_home(std::string_view pattern, const std::vector<std::string>& homes);

}  // namespace mw::policy
