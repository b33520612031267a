// Policy -> kernel map entries. See compile.hpp for how globs map onto the LPM tries.
#include "policy/compile.hpp"
#include "policy/mechanism.hpp"

#include <endian.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <string_view>

#include <fmt/format.h>

namespace mw::policy {

namespace {

struct TrieBytes {
    std::string bytes;    // prefix bytes (an exact path includes its NUL)
    bool exact_fit = true;  // false: truncated or a wildcard glob: user space decides
};

// What a glob contributes to an LPM trie keyed by path bytes.
TrieBytes trie_bytes(const Glob& g) {
    TrieBytes t;
    if (g.is_literal()) {
        t.bytes = g.literal_prefix();
        t.bytes.push_back('\0');
    } else {
        t.bytes = g.literal_prefix();
        t.exact_fit = g.is_subtree();
    }
    if (t.bytes.size() > MW_LPM_PATH_BYTES) {
        t.bytes.resize(MW_LPM_PATH_BYTES);
        t.exact_fit = false;
    }
    return t;
}

constexpr std::uint32_t kAllowBits = MW_PATH_ALLOW_READ | MW_PATH_ALLOW_WRITE | MW_PATH_ALLOW_EXEC;
constexpr std::uint32_t kReportBits = MW_PATH_SENSITIVE | MW_PATH_USERSPACE;

std::uint8_t action_byte(Action a) { return static_cast<std::uint8_t>(a); }

}  // namespace

mw_path_rule_key path_rule_key(std::uint32_t workload_id, std::string_view bytes) {
    mw_path_rule_key key;
    std::memset(&key, 0, sizeof key);  // LPM keys compare every byte, padding included
    key.prefixlen = static_cast<std::uint32_t>(32 + bytes.size() * 8);
    key.workload_id = htobe32(workload_id);
    std::memcpy(key.path, bytes.data(), bytes.size());
    return key;
}

mw_selector_key selector_key(std::string_view bytes) {
    mw_selector_key key;
    std::memset(&key, 0, sizeof key);
    key.prefixlen = static_cast<std::uint32_t>(bytes.size() * 8);
    std::memcpy(key.path, bytes.data(), bytes.size());
    return key;
}

mw_net_rule_key net_rule_key(std::uint32_t workload_id, std::uint16_t port, const std::uint8_t* addr16,
                             unsigned prefix_bits) {
    mw_net_rule_key key;
    std::memset(&key, 0, sizeof key);
    key.prefixlen = 32u + 16u + 16u + prefix_bits;
    key.workload_id = htobe32(workload_id);
    key.port = htobe16(port);
    std::memcpy(key.addr, addr16, 16);
    return key;
}

Result<mw_path_rule_key> make_path_rule_key(std::uint32_t workload_id, std::string_view path, bool exact) {
    if (path.empty() || path.front() != '/')
        return make_error(fmt::format("sensors: path rule '{}' is not absolute", path), EINVAL);
    if (path.size() + (exact ? 1 : 0) > MW_LPM_PATH_BYTES)
        return make_error(fmt::format("sensors: path rule '{}' is longer than {} bytes", path, MW_LPM_PATH_BYTES - 1),
                          ENAMETOOLONG);
    if (path.find('\0') != std::string_view::npos) return make_error("sensors: path rule contains a NUL byte", EINVAL);
    std::string bytes(path);
    if (exact) bytes.push_back('\0');
    return path_rule_key(workload_id, bytes);
}

Result<mw_net_rule_key> make_net_rule_key(std::uint32_t workload_id, std::uint16_t port, const std::uint8_t* addr,
                                          std::size_t addr_len, unsigned prefix_bits) {
    if (addr_len != 4 && addr_len != 16) return make_error("sensors: net rule address must be 4 or 16 bytes", EINVAL);
    if (prefix_bits > addr_len * 8)
        return make_error(fmt::format("sensors: net rule prefix /{} too long", prefix_bits), EINVAL);
    if (addr_len == 16) return net_rule_key(workload_id, port, addr, prefix_bits);
    // v4-mapped, as the kernel side looks IPv4 up
    const auto mapped = v4_mapped(std::span<const std::uint8_t, 4>(addr, 4));
    return net_rule_key(workload_id, port, mapped.data(), prefix_bits + 96);
}

Result<mw_selector_key> make_selector_key(std::string_view exe_prefix, bool exact) {
    if (exe_prefix.empty() || exe_prefix.front() != '/')
        return make_error(fmt::format("sensors: selector prefix '{}' is not absolute", exe_prefix), EINVAL);
    if (exe_prefix.size() + (exact ? 1 : 0) > MW_LPM_PATH_BYTES)
        return make_error(fmt::format("sensors: selector prefix '{}' too long", exe_prefix), ENAMETOOLONG);
    std::string bytes(exe_prefix);
    if (exact) bytes.push_back('\0');
    return selector_key(bytes);
}

mw_workload_config compile_workload_config(const WorkloadPolicy& w) {
    mw_workload_config c;
    std::memset(&c, 0, sizeof c);
    if (w.mode == Mode::enforce) c.flags |= MW_WL_ENFORCE;
    if (w.audit_all) c.flags |= MW_WL_AUDIT_ALL;
    // deny that this host cannot carry out becomes kill where the rule's fallback says so
    const HostMechanisms& host = host_mechanisms();
    c.exec_action = action_byte(effective_action(w, RuleSlot::exec, host));
    c.read_action = action_byte(effective_action(w, RuleSlot::read, host));
    c.write_action = action_byte(effective_action(w, RuleSlot::write, host));
    c.sensitive_action = action_byte(effective_action(w, RuleSlot::sensitive, host));
    c.egress_action = action_byte(w.egress.action);
    c.listen_action = action_byte(w.listen.action);
    return c;
}

std::vector<PathRuleEntry> compile_path_rules(const WorkloadPolicy& w, std::uint32_t workload_id) {
    std::map<std::string, std::uint32_t> rules;  // ordered: deterministic output
    auto add = [&](const std::vector<Glob>& globs, std::uint32_t flag) {
        for (const auto& g : globs) {
            TrieBytes t = trie_bytes(g);
            // A sensitive wildcard cannot be SENSITIVE on its prefix: that would apply the
            // sensitive action to every path under it. User space decides instead.
            rules[t.bytes] |= t.exact_fit ? flag : MW_PATH_USERSPACE;
        }
    };
    add(w.read.allow, MW_PATH_ALLOW_READ);
    add(w.write.allow, MW_PATH_ALLOW_WRITE);
    add(w.sensitive.paths, MW_PATH_SENSITIVE);
    add(w.exec.allow, MW_PATH_ALLOW_EXEC);

    // Allow lists are a union: a longer entry under an allowing subtree ("/usr/" READ,
    // "/usr/local/" WRITE) must carry the shorter one's allow bits too, because the trie
    // answers with the longest match only. The kernel kills on exec from this, so a missing
    // bit would kill a process the policy allows.
    for (const auto& [outer, oflags] : rules) {
        std::uint32_t allow = oflags & kAllowBits;
        if (!allow || (!outer.empty() && outer.back() == '\0')) continue;
        for (auto it = rules.upper_bound(outer); it != rules.end() && it->first.starts_with(outer); ++it)
            it->second |= allow;
    }

    // Propagate report bits down to every longer entry under a prefix entry. An exact
    // entry (ending in NUL) covers only itself, so it never propagates.
    for (const auto& [outer, oflags] : rules) {
        std::uint32_t report = oflags & kReportBits;
        if (!report || (!outer.empty() && outer.back() == '\0')) continue;
        for (auto it = rules.upper_bound(outer); it != rules.end() && it->first.starts_with(outer); ++it)
            it->second |= report;
    }
    std::vector<PathRuleEntry> out;
    out.reserve(rules.size());
    for (auto& [bytes, flags] : rules) {
        PathRuleEntry e;
        std::memset(&e, 0, sizeof e);
        e.key = path_rule_key(workload_id, bytes);
        e.value.flags = (flags & kReportBits) ? (flags & ~kAllowBits) : flags;
        out.push_back(e);
    }
    return out;
}

std::vector<NetRuleEntry> compile_net_rules(const WorkloadPolicy& w, std::uint32_t workload_id) {
    std::vector<NetRuleEntry> out;
    for (const auto& ep : w.egress.allow) {
        NetRuleEntry e;
        std::memset(&e, 0, sizeof e);
        e.key = net_rule_key(workload_id, ep.port, ep.addr.data(), ep.prefix_len);
        std::uint32_t proto = ep.protocol == Protocol::tcp   ? MW_NET_ALLOW_TCP
                              : ep.protocol == Protocol::udp ? MW_NET_ALLOW_UDP
                                                             : (MW_NET_ALLOW_TCP | MW_NET_ALLOW_UDP);
        auto same = std::find_if(out.begin(), out.end(), [&](const NetRuleEntry& o) {
            return std::memcmp(&o.key, &e.key, sizeof e.key) == 0;
        });
        if (same != out.end()) {
            same->value.flags |= proto;
            continue;
        }
        e.value.flags = proto;
        out.push_back(e);
    }
    return out;
}

std::vector<mw_listen_rule_key> compile_listen_rules(const WorkloadPolicy& w, std::uint32_t workload_id) {
    std::vector<mw_listen_rule_key> out;
    for (auto port : w.listen.allow) {  // sorted and unique since parsing
        mw_listen_rule_key k;
        std::memset(&k, 0, sizeof k);
        k.workload_id = workload_id;
        k.port = port;
        out.push_back(k);
    }
    return out;
}

CompiledPolicy compile_policy_set(const PolicySet& set) {
    CompiledPolicy c;
    std::map<std::string, std::uint32_t> prefixes;
    for (std::size_t i = 0; i < set.workloads.size(); ++i) {
        const auto& w = set.workloads[i];
        auto id = static_cast<std::uint32_t>(i + 1);
        c.workloads.push_back(compile_workload_config(w));
        auto p = compile_path_rules(w, id);
        c.path_rules.insert(c.path_rules.end(), p.begin(), p.end());
        auto n = compile_net_rules(w, id);
        c.net_rules.insert(c.net_rules.end(), n.begin(), n.end());
        auto l = compile_listen_rules(w, id);
        c.listen_rules.insert(c.listen_rules.end(), l.begin(), l.end());
        for (const auto& g : w.selector.executables) {
            auto [it, fresh] = prefixes.emplace(trie_bytes(g).bytes, id);
            if (!fresh && it->second != id) it->second = MW_WORKLOAD_PENDING;
        }
        for (const auto& cg : w.selector.cgroups) c.selector_cgroups.push_back({cg, id});
        for (const auto& d : w.models.dirs) c.model_dirs.push_back({id, d});
    }
    for (const auto& [bytes, id] : prefixes) {
        SelectorPrefixEntry e;
        std::memset(&e, 0, sizeof e);
        e.key = selector_key(bytes);
        e.workload_id = id;
        c.selector_prefixes.push_back(e);
    }
    return c;
}

const std::vector<std::string>& model_file_extensions() {
    static const std::vector<std::string> list = {"pt",  "pth", "bin",         "ckpt", "pkl",  "pickle", "joblib", "npy",
                                                  "npz", "safetensors", "gguf", "onnx", "h5", "keras",  "msgpack"};
    return list;
}

bool has_model_extension(std::string_view path) {
    const auto slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;  // ".pt" alone is a hidden file, not a model
    std::string ext(name.substr(dot + 1));
    for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto& list = model_file_extensions();
    return std::find(list.begin(), list.end(), ext) != list.end();
}

}  // namespace mw::policy
