// PolicyStore: the policy lifecycle. Every change (files at start-up, SIGHUP, the control
// API, rollback) is validated completely before anything changes, loaded into the kernel
// maps, and only then published to the pipeline. The last N generations are kept so one
// call rolls back. A failed apply changes nothing and returns the exact error.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/compile.hpp"
#include "policy/model.hpp"

namespace mw {

class Pipeline;
namespace sensors { class Sensors; }

struct PolicyGeneration {
    std::uint64_t number = 0;
    std::string origin;                  // "files", "api:<identity>", "rollback to N"
    std::string sha256;                  // of the policy text that produced it
    std::chrono::system_clock::time_point applied_at;
    policy::PolicySet policies;
    policy::CompiledPolicy compiled;
};

class PolicyStore {
public:
    using Loader = std::function<Result<void>(const policy::CompiledPolicy&)>;
    using Listener = std::function<void(const PolicyGeneration& now, const PolicyGeneration* before)>;

    // loader: puts a compiled set into the kernel (load_policy_maps in the daemon; a fake in tests).
    PolicyStore(Loader loader, std::vector<std::string> policy_paths, std::size_t keep = 5);

    Result<std::uint64_t> load_files();                               // start-up and SIGHUP
    Result<std::uint64_t> apply_text(std::string_view yaml, const std::string& origin);
    Result<std::uint64_t> rollback(const std::string& origin);       // back to the previous generation

    const PolicyGeneration* current() const { return history_.empty() ? nullptr : history_.back().get(); }
    const std::deque<std::shared_ptr<const PolicyGeneration>>& history() const { return history_; }

    // Called after each successful change (the pipeline swap, the audit log, metrics).
    void on_change(Listener listener) { listeners_.push_back(std::move(listener)); }

    // JSON for the control API: current generation and history (no policy bodies).
    std::string describe_json() const;

private:
    Result<std::uint64_t> publish(policy::PolicySet set, const std::string& origin, const std::string& text);
    Result<std::uint64_t> publish_existing(std::shared_ptr<const PolicyGeneration> gen, const std::string& origin);

    Loader loader_;
    std::vector<std::string> paths_;
    std::size_t keep_;
    std::uint64_t next_number_ = 1;
    std::deque<std::shared_ptr<const PolicyGeneration>> history_;
    std::vector<Listener> listeners_;
};

}  // namespace mw
