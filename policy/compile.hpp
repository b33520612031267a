// PolicySet -> kernel map entries (the ABI structs of <modelwarden/events.h>), as plain
// vectors the sensors' map-update methods take. Pure functions: no I/O, deterministic order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // flexible array members in the C ABI header
#include <modelwarden/events.h>
#pragma GCC diagnostic pop

#include "common/result.hpp"
#include "policy/model.hpp"

namespace mw::policy {

// Kernel-map keys: the byte layouts the kernel side looks up (big-endian ids, prefix bits).
// The one place they are built: the compiler below and the agent (models.dirs, tests) use them.
// `bytes` are the trie bytes as matched: an exact path with its NUL, a prefix ("/usr/" for
// "/usr/**") without; at most MW_LPM_PATH_BYTES (the compiler truncates before).
mw_path_rule_key path_rule_key(std::uint32_t workload_id, std::string_view bytes);
mw_selector_key selector_key(std::string_view bytes);
// addr16: 16 bytes, network order, IPv4 stored v4-mapped; prefix_bits counts over all 128.
mw_net_rule_key net_rule_key(std::uint32_t workload_id, std::uint16_t port, const std::uint8_t* addr16,
                             unsigned prefix_bits);

// Checked builders for input that did not come through the compiler: the path must be
// absolute, NUL-free and fit; an exact path gets its NUL, a prefix does not.
Result<mw_path_rule_key> make_path_rule_key(std::uint32_t workload_id, std::string_view path, bool exact);
// addr: 4 bytes (IPv4, stored v4-mapped) or 16 bytes (IPv6), network order;
// prefix_bits counts bits of that address (e.g. 8 for 10.0.0.0/8); port 0 = any.
Result<mw_net_rule_key> make_net_rule_key(std::uint32_t workload_id, std::uint16_t port, const std::uint8_t* addr,
                                          std::size_t addr_len, unsigned prefix_bits);
Result<mw_selector_key> make_selector_key(std::string_view exe_prefix, bool exact);

struct PathRuleEntry {
    mw_path_rule_key key;
    mw_path_rule value;
};

struct NetRuleEntry {
    mw_net_rule_key key;
    mw_net_rule value;
};

struct SelectorPrefixEntry {
    mw_selector_key key;
    std::uint32_t workload_id;  // MW_WORKLOAD_PENDING when several workloads share the prefix
};

// cgroup paths the agent resolves to cgroup ids (an id exists only at run time).
struct SelectorCgroupEntry {
    std::string path;
    std::uint32_t workload_id;
};

// A workload's models.dirs entry, as written (load_policy_maps resolves symlinks: the kernel
// compares against the path it renders from the dentry, which has none).
struct ModelDirEntry {
    std::uint32_t workload_id;
    std::string dir;
};

struct CompiledPolicy {
    std::vector<mw_workload_config> workloads;  // workloads[id - 1]; ids are 1..N in set order
    std::vector<PathRuleEntry> path_rules;       // sorted by (workload, path bytes, length)
    std::vector<NetRuleEntry> net_rules;
    std::vector<mw_listen_rule_key> listen_rules;
    std::vector<SelectorPrefixEntry> selector_prefixes;
    std::vector<SelectorCgroupEntry> selector_cgroups;
    std::vector<ModelDirEntry> model_dirs;
};

// File-name extensions of model artefacts (lower case, without the dot): .pt .pth .bin .ckpt
// .pkl .pickle .joblib .npy .npz .safetensors .gguf .onnx .h5 .keras .msgpack. The one list
// for both sides: the kernel map model_extensions is filled from it, and the user-space
// model-file rule (MW-MODEL-003) matches with has_model_extension.
const std::vector<std::string>& model_file_extensions();

// True when the last component of `path` ends in "." + one of model_file_extensions(),
// compared case-insensitively (as the kernel side does: a loader ignores the case).
bool has_model_extension(std::string_view path);

// Workload flags and actions. Actions are written as configured even in monitor mode:
// the kernel acts only when MW_WL_ENFORCE is set, so a mode switch is one flag.
mw_workload_config compile_workload_config(const WorkloadPolicy& w);

// Path rules for one workload. Each glob becomes one LPM entry:
//  - `/exact/path`  -> the path plus its NUL (only that path matches);
//  - `PREFIX/**`    -> "PREFIX/" (everything below);
//  - anything else  -> MW_PATH_USERSPACE on its literal prefix (the part before the first
//    wildcard): the kernel cannot decide it, so it reports and user space evaluates;
//  - anything longer than MW_LPM_PATH_BYTES -> MW_PATH_USERSPACE on its first bytes.
// Longest-prefix matching must never let an allow entry hide what a sensitive or
// user-space rule has to see, so every entry lying under a SENSITIVE or USERSPACE prefix
// inherits that flag, and any entry carrying SENSITIVE or USERSPACE loses its ALLOW bits.
// Example: sensitive `/proc/*/mem` puts USERSPACE on "/proc/", which demotes the allow
// entry `/proc/self/**` to USERSPACE, so /proc/self/mem still reaches user space.
// The exec allow list is in the same trie (MW_PATH_ALLOW_EXEC), so the kernel can kill on
// it; allow bits of a subtree entry are copied to every longer entry under it.
std::vector<PathRuleEntry> compile_path_rules(const WorkloadPolicy& w, std::uint32_t workload_id);

// Egress CIDRs: v4 stored v4-mapped, workload id and port big-endian, port 0 = any,
// flags = the protocols allowed (both for "any"). Same key twice: protocols OR'ed.
std::vector<NetRuleEntry> compile_net_rules(const WorkloadPolicy& w, std::uint32_t workload_id);

std::vector<mw_listen_rule_key> compile_listen_rules(const WorkloadPolicy& w, std::uint32_t workload_id);

// The whole set. Selector prefixes: the literal prefix of each executable glob (exact
// paths with their NUL), de-duplicated across workloads.
CompiledPolicy compile_policy_set(const PolicySet& set);

}  // namespace mw::policy
