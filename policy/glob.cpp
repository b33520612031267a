// Glob compilation and matching (see glob.hpp for the syntax) and `~` expansion.
#include "policy/glob.hpp"

#include <fstream>

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
    if (prefix_only_) return true;
    std::string_view rest = path.substr(prefix_.size());
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
        if (p.empty()) p = "/";
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace mw::policy
