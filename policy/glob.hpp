// Path globs for policy allow lists and sensitive paths: compiled once, matched with no
// allocation. Also the `~` expansion to every home directory known at compile time.
#pragma once

#include <bitset>
#include <cstdint>
#include <span>
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
    // match() for a path already known to start with literal_prefix(): `rest` is what follows it.
    bool match_rest(std::string_view rest) const noexcept;

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

// A list of globs compiled together, answering exactly what calling Glob::match on each in
// order would (tests/policy/glob_set_test.cpp holds it to that), without walking the list:
// the literal prefixes go into a radix tree, so one walk along the path finds the few globs
// whose prefix it starts with. Literal globs and `PREFIX/**` are decided by the walk alone;
// only the remaining wildcard globs run the NFA, on the part after their prefix. A policy
// with a sensitive list per home directory has hundreds of globs; most opens touch one or
// two tree nodes. No allocation when matching.
class GlobSet {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    GlobSet() = default;  // empty and not built: covers() only an empty list
    static GlobSet build(std::span<const Glob> globs);

    // Position, in the list given to build(), of the first glob that matches; npos if none.
    std::size_t first_match(std::string_view path) const noexcept { return find(path, false); }
    bool any_match(std::string_view path) const noexcept { return find(path, true) != npos; }

    // Built from a list of this size. The owner rebuilds after changing its list; the check is
    // only a guard against using a set that was never built for it (a hand-made policy).
    bool covers(std::span<const Glob> globs) const noexcept { return built_ && size_ == globs.size(); }
    std::size_t size() const noexcept { return size_; }

private:
    struct Node {
        std::uint32_t label_off = 0, label_len = 0;  // bytes from the parent node, in labels_
        std::uint32_t exact = UINT32_MAX;            // lowest literal glob equal to the path so far
        std::uint32_t subtree = UINT32_MAX;          // lowest `PREFIX/**` with this prefix
        std::uint32_t wild_off = 0, wild_len = 0;    // wildcard globs with this prefix, in wild_
        std::uint32_t kids_off = 0, kids_len = 0;    // in kids_, sorted by first label byte
    };
    struct Wild {
        std::uint32_t index;  // in the original list
        Glob glob;
    };
    struct Kid {
        unsigned char first;
        std::uint32_t node;
    };

    std::size_t find(std::string_view path, bool any) const noexcept;

    std::vector<Node> nodes_;  // nodes_[0] is the root (empty prefix)
    std::vector<Kid> kids_;
    std::vector<Wild> wild_;   // per node, ascending original index
    std::string labels_;
    std::size_t size_ = 0;
    bool built_ = false;
};

// Home directories from a passwd file (field 6) plus /root, de-duplicated, in file order.
// Unreadable file: just /root (a container may have no passwd; root's home still matters).
std::vector<std::string> home_directories(const std::string& passwd_path = "/etc/passwd");

// `~/rest` -> one pattern per home directory; other patterns are returned unchanged.
// `~user/...` is rejected: it would silently mean nothing when the user does not exist.
Result<std::vector<std::string>> expand_home(std::string_view pattern, const std::vector<std::string>& homes);

}  // namespace mw::policy
