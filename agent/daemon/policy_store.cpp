// Policy lifecycle (see policy_store.hpp).
#include "daemon/policy_store.hpp"

#include <openssl/evp.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "policy/parser.hpp"

namespace mw {

namespace {

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
}

// The text the files hold now, for the generation's digest (what was actually applied).
std::string read_sources(const std::vector<std::string>& paths) {
    std::string all;
    for (const auto& p : paths) {
        std::ifstream in(p);
        if (!in) continue;  // directories and unreadable files: their parse result is what counts
        std::stringstream ss;
        ss << in.rdbuf();
        all += ss.str();
    }
    return all;
}

Error joined(const std::vector<policy::Diagnostic>& errors) {
    std::string msg;
    for (const auto& d : errors) {
        if (!msg.empty()) msg += '\n';
        msg += d.str();
    }
    return make_error(msg, 422);
}

}  // namespace

PolicyStore::PolicyStore(Loader loader, std::vector<std::string> policy_paths, std::size_t keep)
    : loader_(std::move(loader)), paths_(std::move(policy_paths)), keep_(keep < 2 ? 2 : keep) {}

Result<std::uint64_t> PolicyStore::load_files() {
    auto report = policy::parse_policy_paths(paths_);
    if (!report.ok()) return joined(report.errors);
    if (report.policies.workloads.empty()) return make_error("no workload policy found in " + fmt::format("{}", fmt::join(paths_, ", ")), 422);
    return publish(std::move(report.policies), "files", read_sources(paths_));
}

Result<std::uint64_t> PolicyStore::apply_text(std::string_view yaml, const std::string& origin) {
    auto report = policy::parse_policy_text(yaml, origin);
    if (!report.ok()) return joined(report.errors);
    if (report.policies.workloads.empty()) return make_error(origin + ": no workload policy in the bundle", 422);
    return publish(std::move(report.policies), origin, std::string(yaml));
}

Result<std::uint64_t> PolicyStore::publish(policy::PolicySet set, const std::string& origin, const std::string& text) {
    auto gen = std::make_shared<PolicyGeneration>();
    gen->compiled = policy::compile_policy_set(set);
    gen->policies = std::move(set);
    gen->origin = origin;
    gen->sha256 = sha256_hex(text);
    return publish_existing(std::move(gen), origin);
}

Result<std::uint64_t> PolicyStore::publish_existing(std::shared_ptr<const PolicyGeneration> gen, const std::string& origin) {
    // The kernel first: if the maps cannot take the new set, nothing else changes either.
    if (auto r = loader_(gen->compiled); !r) {
        // Put the previous generation back so the kernel never keeps a half-loaded set.
        if (const auto* prev = current()) (void)loader_(prev->compiled);
        return make_error("loading the policy into the kernel failed: " + r.error().message, 500);
    }
    auto published = std::make_shared<PolicyGeneration>(*gen);
    published->number = next_number_++;
    published->origin = origin;
    published->applied_at = std::chrono::system_clock::now();
    const PolicyGeneration* before = current();
    history_.push_back(published);
    for (auto& l : listeners_) l(*published, before);
    while (history_.size() > keep_) history_.pop_front();
    return published->number;
}

Result<std::uint64_t> PolicyStore::rollback(const std::string& origin) {
    if (history_.size() < 2) return make_error("no previous policy generation to roll back to", 409);
    auto previous = history_[history_.size() - 2];
    return publish_existing(previous, fmt::format("{} (rollback to generation {})", origin, previous->number));
}

std::string PolicyStore::describe_json() const {
    nlohmann::json out;
    out["current"] = current() ? current()->number : 0;
    auto& gens = out["generations"] = nlohmann::json::array();
    for (const auto& g : history_) {
        nlohmann::json names = nlohmann::json::array();
        for (const auto& w : g->policies.workloads)
            names.push_back({{"name", w.name}, {"owner", w.owner}, {"mode", policy::to_string(w.mode)}});
        gens.push_back({{"generation", g->number},
                        {"origin", g->origin},
                        {"sha256", g->sha256},
                        {"applied_at", fmt::format("{:%FT%TZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(g->applied_at)))},
                        {"workloads", names}});
    }
    return out.dump();
}

}  // namespace mw
