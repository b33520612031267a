// Glob compilation and matching (see glob.hpp for the syntax) and `~` expansion.
#include "policy/glob.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>

namespace mw::policy {

Result<Glob> Glob::compile(std::string_view pattern) {
    Glob g;
    g.pattern_ = std::string(pattern);
    if (pattern.empty()) return make_error("empty glob");
    if (pattern.find('\0') != std::string_view::npos) return make_error("glob contains a NUL byte");

    bool in_prefix = true;
    std::size_t i = 0;
    auto push = [&](Element e) -> bool {
        in_prefix = false;
        g.elements_.push_back(e);
        return g.elements_.size() <= kMaxElements;
    };
    auto literal = [&](char c) -> bool {
        if (in_prefix) {
            g.prefix_.push_back(c);
            return true;
        }
        return push({Kind::chr, c});
    };
    while (i < pattern.size()) {
        char c = pattern[i];
        bool ok = true;
        if (c == '\\') {
            if (i + 1 >= pattern.size()) return make_error(fmt::format("glob '{}': trailing backslash", pattern));
            ok = literal(pattern[i + 1]);
            i += 2;
        } else if (c == '*') {
            bool dbl = i + 1 < pattern.size() && pattern[i + 1] == '*';
            if (!dbl) {
                ok = push({Kind::star});
                i += 1;
                continue;
            }
            std::size_t end = i + 2;
            while (end < pattern.size() && pattern[end] == '*') ++end;  // *** == **
            bool at_component_start = i == 0 || pattern[i - 1] == '/';
            if (at_component_start && end < pattern.size() && pattern[end] == '/') {
                ok = push({Kind::dirs});  // `**/`: zero or more whole directories
                i = end + 1;
            } else {
                ok = push({Kind::globstar});
                i = end;
            }
        } else if (c == '?') {
            ok = push({Kind::any_one});
            i += 1;
        } else if (c == '[') {
            std::size_t j = i + 1;
            bool negate = j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^');
            if (negate) ++j;
            std::bitset<256> set;
            bool first = true;
            while (j < pattern.size() && (pattern[j] != ']' || first)) {
                unsigned char lo = static_cast<unsigned char>(pattern[j]);
                if (lo == '\\' && j + 1 < pattern.size()) lo = static_cast<unsigned char>(pattern[++j]);
                unsigned char hi = lo;
                if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
                    hi = static_cast<unsigned char>(pattern[j + 2]);
                    j += 2;
                    if (hi < lo) return make_error(fmt::format("glob '{}': reversed range in [...]", pattern));
                }
                for (unsigned v = lo; v <= hi; ++v) set.set(v);
                ++j;
                first = false;
            }
            if (j >= pattern.size()) return make_error(fmt::format("glob '{}': unterminated [", pattern));
            if (negate) set.flip();
            set.reset('/');  // a class never crosses a path component
            set.reset(0);
            if (set.none()) return make_error(fmt::format("glob '{}': [...] matches no character", pattern));
            g.classes_.push_back(set);
            ok = push({Kind::cls, 0, static_cast<std::uint16_t>(g.classes_.size() - 1)});
            i = j + 1;
        } else {
            ok = literal(c);
            i += 1;
        }
        if (!ok) return make_error(fmt::format("glob '{}': more than {} wildcard elements", pattern, kMaxElements));
    }
    // `PREFIX/**` is the common case the kernel trie can express: keep it as a flag.
    if (g.elements_.size() == 1 && g.elements_[0].kind == Kind::globstar && !g.prefix_.empty() &&
        g.prefix_.back() == '/') {
        g.prefix_only_ = true;
        g.elements_.clear();
    }
    return g;
}

bool Glob::match(std::string_view path) const noexcept {
    if (path.size() < prefix_.size() || path.compare(0, prefix_.size(), prefix_) != 0) return false;
    return match_rest(path.substr(prefix_.size()));
}

bool Glob::match_rest(std::string_view rest) const noexcept {
    if (prefix_only_) return true;
    if (elements_.empty()) return rest.empty();

    const std::size_t n = elements_.size();
    std::bitset<kMaxElements + 1> cur, next;
    auto close = [&](std::bitset<kMaxElements + 1>& s) {
        // Epsilon moves only go forward (a star may match nothing), so one pass suffices.
        for (std::size_t k = 0; k < n; ++k) {
            if (!s.test(k)) continue;
            Kind kind = elements_[k].kind;
            if (kind == Kind::star || kind == Kind::globstar || kind == Kind::dirs) s.set(k + 1);
        }
    };
    cur.set(0);
    close(cur);
    for (char ch : rest) {
        next.reset();
        unsigned char uc = static_cast<unsigned char>(ch);
        bool any = false;
        for (std::size_t k = 0; k < n; ++k) {
            if (!cur.test(k)) continue;
            const Element& e = elements_[k];
            switch (e.kind) {
            case Kind::chr:
                if (e.c == ch) next.set(k + 1);
                break;
            case Kind::any_one:
                if (ch != '/') next.set(k + 1);
                break;
            case Kind::cls:
                if (classes_[e.cls_index].test(uc)) next.set(k + 1);
                break;
            case Kind::star:
                if (ch != '/') next.set(k);
                break;
            case Kind::globstar:
                next.set(k);
                break;
            case Kind::dirs:
                next.set(k);
                if (ch == '/') next.set(k + 1);
                break;
            }
            any = true;
        }
        if (!any) return false;
        close(next);
        std::swap(cur, next);
        if (cur.none()) return false;
    }
    return cur.test(n);
}

GlobSet GlobSet::build(std::span<const Glob> globs) {
    // A byte trie of the literal prefixes first, then chains of single-child nodes without
    // globs of their own are merged into one labelled node (a radix tree).
    struct ByteNode {
        std::map<unsigned char, std::uint32_t> kids;
        std::uint32_t exact = UINT32_MAX, subtree = UINT32_MAX;
        std::vector<std::uint32_t> wild;
        bool bare() const { return exact == UINT32_MAX && subtree == UINT32_MAX && wild.empty(); }
    };
    std::vector<ByteNode> trie(1);
    for (std::size_t i = 0; i < globs.size(); ++i) {
        const Glob& g = globs[i];
        std::uint32_t n = 0;
        for (char c : g.literal_prefix()) {
            const auto uc = static_cast<unsigned char>(c);
            auto it = trie[n].kids.find(uc);
            if (it == trie[n].kids.end()) {
                trie.emplace_back();
                it = trie[n].kids.emplace(uc, static_cast<std::uint32_t>(trie.size() - 1)).first;
            }
            n = it->second;
        }
        const auto idx = static_cast<std::uint32_t>(i);
        if (g.is_literal()) trie[n].exact = std::min(trie[n].exact, idx);
        else if (g.is_subtree()) trie[n].subtree = std::min(trie[n].subtree, idx);
        else trie[n].wild.push_back(idx);
    }

    GlobSet set;
    auto emit = [&](auto& self, std::uint32_t b, std::string_view label) -> std::uint32_t {
        const auto at = static_cast<std::uint32_t>(set.nodes_.size());
        set.nodes_.emplace_back();
        Node node;
        node.label_off = static_cast<std::uint32_t>(set.labels_.size());
        node.label_len = static_cast<std::uint32_t>(label.size());
        set.labels_.append(label);
        node.exact = trie[b].exact;
        node.subtree = trie[b].subtree;
        node.wild_off = static_cast<std::uint32_t>(set.wild_.size());
        node.wild_len = static_cast<std::uint32_t>(trie[b].wild.size());
        for (auto i : trie[b].wild) set.wild_.push_back({i, globs[i]});
        std::vector<std::pair<std::string, std::uint32_t>> kids;
        for (const auto& [c, child] : trie[b].kids) {
            std::string kid_label(1, static_cast<char>(c));
            std::uint32_t cur = child;
            while (trie[cur].bare() && trie[cur].kids.size() == 1) {
                kid_label.push_back(static_cast<char>(trie[cur].kids.begin()->first));
                cur = trie[cur].kids.begin()->second;
            }
            kids.emplace_back(std::move(kid_label), cur);
        }
        node.kids_off = static_cast<std::uint32_t>(set.kids_.size());
        node.kids_len = static_cast<std::uint32_t>(kids.size());
        set.kids_.resize(set.kids_.size() + kids.size());  // this node's slots, filled below
        set.nodes_[at] = node;
        for (std::size_t k = 0; k < kids.size(); ++k) {
            const std::uint32_t child = self(self, kids[k].second, kids[k].first);
            set.kids_[node.kids_off + k] = {static_cast<unsigned char>(kids[k].first[0]), child};
        }
        return at;
    };
    emit(emit, 0, {});
    set.size_ = globs.size();
    set.built_ = true;
    return set;
}

std::size_t GlobSet::find(std::string_view path, bool any) const noexcept {
    if (nodes_.empty()) return npos;
    std::uint32_t best = UINT32_MAX;
    std::uint32_t n = 0;
    std::size_t pos = 0;  // path[0, pos) is the prefix that leads to node n
    for (;;) {
        const Node& node = nodes_[n];
        if (node.subtree < best) {
            best = node.subtree;
            if (any) break;
        }
        if (pos == path.size() && node.exact < best) {
            best = node.exact;
            if (any) break;
        }
        for (std::uint32_t k = node.wild_off; k < node.wild_off + node.wild_len; ++k) {
            const Wild& w = wild_[k];
            if (w.index >= best) break;  // ascending: nothing later here can beat best
            if (w.glob.match_rest(path.substr(pos))) {
                best = w.index;
                break;
            }
        }
        if ((any && best != UINT32_MAX) || pos == path.size()) break;
        const auto c = static_cast<unsigned char>(path[pos]);
        std::uint32_t next = UINT32_MAX;
        for (std::uint32_t k = node.kids_off; k < node.kids_off + node.kids_len; ++k) {
            if (kids_[k].first == c) {
                next = kids_[k].node;
                break;
            }
        }
        if (next == UINT32_MAX) break;
        const Node& kid = nodes_[next];
        if (path.size() - pos < kid.label_len ||
            std::memcmp(path.data() + pos, labels_.data() + kid.label_off, kid.label_len) != 0)
            break;
        pos += kid.label_len;
        n = next;
    }
    return best == UINT32_MAX ? npos : best;
}

std::vector<std::string> home_directories(const std::string& passwd_path) {
    std::vector<std::string> homes;
    auto add = [&](std::string h) {
        if (h.empty() || h.front() != '/') return;
        while (h.size() > 1 && h.back() == '/') h.pop_back();
        for (const auto& e : homes)
            if (e == h) return;
        homes.push_back(std::move(h));
    };
    std::ifstream in(passwd_path);
    std::string line;
    while (in && std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        std::size_t pos = 0;
        for (int field = 0; field < 5 && pos != std::string::npos; ++field) {
            pos = line.find(':', pos);
            if (pos != std::string::npos) ++pos;
        }
        if (pos == std::string::npos) continue;
        std::size_t end = line.find(':', pos);
        if (end == std::string::npos) continue;  // 7 fields or it is not a passwd line
        add(line.substr(pos, end - pos));
    }
    add("/root");
    return homes;
}

Result<std::vector<std::string>> expand_home(std::string_view pattern, const std::vector<std::string>& homes) {
    std::vector<std::string> out;
    if (pattern.empty() || pattern.front() != '~') {
        out.emplace_back(pattern);
        return out;
    }
    if (pattern.size() > 1 && pattern[1] != '/')
        return make_error(fmt::format("'{}': only ~/ (every home directory) is supported, not ~user", pattern));
    std::string_view rest = pattern.substr(1);  // "" or "/..."
    for (const auto& h : homes) {
        std::string p = h == "/" ? std::string() : h;
        p.append(rest);
        if (p.empty()) p.push_back('/');  // `p = "/"` trips GCC 12's -Wrestrict false positive
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace mw::policy
