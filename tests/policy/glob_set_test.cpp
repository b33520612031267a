// GlobSet (the precompiled glob list the evaluator uses) against the reference: Glob::match on
// each glob in order. Generated patterns and paths, so a behaviour change cannot pass.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "policy/evaluate.hpp"
#include "policy/glob.hpp"
#include "policy/parser.hpp"

using mw::policy::Glob;
using mw::policy::GlobSet;

namespace {

Glob g(const std::string& p) {
    auto r = Glob::compile(p);
    REQUIRE(r.ok());
    return *r;
}

std::size_t reference_first(const std::vector<Glob>& globs, std::string_view path) {
    for (std::size_t i = 0; i < globs.size(); ++i)
        if (globs[i].match(path)) return i;
    return GlobSet::npos;
}

// Components close enough to each other that prefixes share tree nodes and wildcards
// straddle them: dot-files, names that are prefixes of others, a literal '*' and '?'.
const std::vector<std::string> kNames = {"a", "ab", "abc", "b", ".a", ".ssh", "a.x", "x", "id_rsa", "*", "?"};
const std::vector<std::string> kWild = {"*",    "?",   "**",  "[ab]", "[!a]", "[a-c]*", "a*",    "*.x",
                                        ".*",   "*a",  "?b",  "\\*",  "\\?",  "a?c",    "[.]*",  "**.x"};

std::string random_pattern(std::mt19937& rng) {
    std::uniform_int_distribution<int> depth(1, 4), pick(0, 9), name(0, static_cast<int>(kNames.size()) - 1),
        wild(0, static_cast<int>(kWild.size()) - 1);
    std::string p;
    const int d = depth(rng);
    for (int i = 0; i < d; ++i) {
        p += '/';
        const int r = pick(rng);
        if (r < 5) {
            const std::string& n = kNames[static_cast<std::size_t>(name(rng))];
            // escape the literal '*' and '?' names so they stay literal
            p += n == "*" ? "\\*" : n == "?" ? "\\?" : n;
        } else if (r < 9) {
            p += kWild[static_cast<std::size_t>(wild(rng))];
        } else {
            p += kNames[static_cast<std::size_t>(name(rng))].substr(0, 1) == "*" ? "a" : kNames[0];
            p += kWild[static_cast<std::size_t>(wild(rng))];
        }
    }
    if (pick(rng) == 0) p += '/';  // trailing slash
    return p;
}

std::string random_path(std::mt19937& rng) {
    std::uniform_int_distribution<int> depth(0, 5), name(0, static_cast<int>(kNames.size()) - 1), coin(0, 7);
    std::string p;
    const int d = depth(rng);
    for (int i = 0; i < d; ++i) p += "/" + kNames[static_cast<std::size_t>(name(rng))];
    if (p.empty() || coin(rng) == 0) p += '/';
    return p;
}

}  // namespace

TEST_CASE("policy glob set: the first matching glob in list order wins", "[policy][glob]") {
    const std::vector<Glob> globs = {g("/x"), g("/a/b"), g("/a/**"), g("/a/*"), g("/a/b"), g("/a/**")};
    const auto set = GlobSet::build(globs);
    CHECK(set.covers(globs));
    CHECK(set.size() == 6);
    CHECK(set.first_match("/a/b") == 1);  // literal before the subtree
    CHECK(set.first_match("/a/c") == 2);  // subtree before the star
    CHECK(set.first_match("/a/c/d") == 2);
    CHECK(set.first_match("/x") == 0);
    CHECK(set.first_match("/x/") == GlobSet::npos);
    CHECK(set.first_match("/a") == GlobSet::npos);
    CHECK(set.first_match("") == GlobSet::npos);
    CHECK(set.any_match("/a/zzz"));
    CHECK_FALSE(set.any_match("/b"));

    const std::vector<Glob> later = {g("/proc/*/mem"), g("/etc/shadow"), g("/proc/**")};
    const auto set2 = GlobSet::build(later);
    CHECK(set2.first_match("/proc/1/mem") == 0);
    CHECK(set2.first_match("/proc/1/environ") == 2);
    CHECK(set2.first_match("/etc/shadow") == 1);
    CHECK(set2.first_match("/etc/shadow-") == GlobSet::npos);
}

TEST_CASE("policy glob set: empty and unbuilt sets", "[policy][glob]") {
    const std::vector<Glob> none;
    const auto empty = GlobSet::build(none);
    CHECK(empty.covers(none));
    CHECK(empty.first_match("/anything") == GlobSet::npos);
    const GlobSet unbuilt;
    CHECK_FALSE(unbuilt.covers(none));  // a hand-made policy's lists are walked, never this
    CHECK(unbuilt.first_match("/a") == GlobSet::npos);
    const std::vector<Glob> one = {g("/a")};
    CHECK_FALSE(empty.covers(one));
}

TEST_CASE("policy glob set: equals glob-by-glob matching on generated patterns and paths", "[policy][glob]") {
    std::mt19937 rng(20261122);
    std::uniform_int_distribution<int> list_size(1, 40);
    std::size_t checked = 0, matched = 0, non_first = 0;
    for (int round = 0; round < 300; ++round) {
        std::vector<Glob> globs;
        const int n = list_size(rng);
        for (int i = 0; i < n; ++i) globs.push_back(g(random_pattern(rng)));
        const auto set = GlobSet::build(globs);
        REQUIRE(set.covers(globs));
        std::vector<std::string> paths;
        for (int i = 0; i < 60; ++i) paths.push_back(random_path(rng));
        // Paths made from the patterns themselves (wildcards taken literally, or dropped), so
        // literal and prefix globs are hit, not only missed.
        for (const auto& gl : globs) {
            paths.push_back(gl.pattern());
            paths.push_back(gl.literal_prefix());
            paths.push_back(gl.literal_prefix() + "a");
            paths.push_back(gl.literal_prefix() + "a/b.x");
        }
        for (const auto& path : paths) {
            const std::size_t want = reference_first(globs, path);
            INFO("path '" << path << "', list of " << globs.size() << ", first pattern "
                          << globs.front().pattern());
            REQUIRE(set.first_match(path) == want);
            REQUIRE(set.any_match(path) == (want != GlobSet::npos));
            ++checked;
            if (want != GlobSet::npos) ++matched;
            if (want != GlobSet::npos && want != 0) ++non_first;
        }
    }
    // The generator must exercise both outcomes and the ordering, or the comparison says little.
    CHECK(checked > 20000);
    CHECK(matched > checked / 10);
    CHECK(non_first > checked / 20);
}

TEST_CASE("policy glob set: a parsed policy and the same policy without sets give the same verdicts",
          "[policy][glob][evaluate]") {
    mw::policy::ParseOptions opts;
    opts.passwd_path = MW_POLICY_TEST_DIR "/passwd.fixture";
    auto report = mw::policy::parse_policy_text(R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: w, owner: t}
spec:
  mode: enforce
  selector: {executable: ["/usr/bin/python3*"]}
  process: {exec: {allow: ["/usr/bin/python3*", "/bin/true"], action: kill}}
  files:
    read: {allow: ["/usr/**", "/opt/models/**", "/proc/self/**", "/etc/ld.so.cache"], action: alert}
    write: {allow: ["/tmp/**", "/var/log/w/*.log"], action: deny}
    sensitive: {paths: ["/srv/secret/[a-c]*", "~/.netrc"], action: kill}
)",
                                                "p.yaml", opts);
    REQUIRE(report.ok());
    const auto& parsed = report.policies.workloads.at(0);
    REQUIRE(parsed.sensitive_set.covers(parsed.sensitive.paths));
    REQUIRE(parsed.sensitive.paths.size() > 30);  // defaults per home directory of the fixture
    mw::policy::WorkloadPolicy plain = parsed;
    plain.exec_set = plain.read_set = plain.write_set = plain.sensitive_set = GlobSet();

    const std::vector<std::string> paths = {
        "/etc/shadow", "/root/.ssh/id_rsa", "/home/alice/.ssh/authorized_keys", "/home/bob/.aws/credentials",
        "/home/alice/.netrc", "/srv/secret/alpha", "/srv/secret/delta", "/proc/42/mem", "/proc/42/environ",
        "/proc/43/environ", "/proc/42/status", "/proc/self/status", "/usr/lib/x.so", "/opt/models/a.pt",
        "/opt/other/a.pt", "/tmp/x", "/var/log/w/a.log", "/var/log/w/a/b.log", "/etc/ld.so.cache",
        "/etc/ld.so.cache2", "/usr/bin/python3.11", "/bin/true", "/bin/sh", "/", ""};
    std::size_t findings = 0;
    for (const auto& p : paths) {
        INFO(p);
        for (bool write : {false, true}) {
            const auto a = mw::policy::evaluate_open(parsed, p, write, 42);
            const auto b = mw::policy::evaluate_open(plain, p, write, 42);
            CHECK(a.allowed == b.allowed);
            CHECK(a.rule_id() == b.rule_id());
            CHECK(a.matched == b.matched);
            CHECK(a.action == b.action);
            findings += a.allowed ? 0 : 1;
        }
        CHECK(mw::policy::evaluate_exec(parsed, p).rule_id() == mw::policy::evaluate_exec(plain, p).rule_id());
        CHECK(mw::policy::evaluate_unlink(parsed, p).rule_id() == mw::policy::evaluate_unlink(plain, p).rule_id());
    }
    CHECK(findings > 20);
    // Spot checks of the exact outcome, not only agreement.
    // its own environ: not sensitive, and allowed as /proc/self/environ
    CHECK(mw::policy::evaluate_open(parsed, "/proc/42/environ", false, 42).allowed);
    CHECK(mw::policy::evaluate_open(parsed, "/proc/43/environ", false, 42).rule_id() == "MW-FILE-004");
    CHECK(mw::policy::evaluate_open(parsed, "/proc/43/environ", false, 42).matched == "/proc/*/environ");
    CHECK(mw::policy::evaluate_open(parsed, "/proc/42/status", false, 42).allowed);
    CHECK(mw::policy::evaluate_open(parsed, "/home/alice/.netrc", false, 42).matched == "/home/alice/.netrc");
    CHECK(mw::policy::evaluate_open(parsed, "/srv/secret/alpha", false, 42).matched == "/srv/secret/[a-c]*");
    CHECK(mw::policy::evaluate_open(parsed, "/srv/secret/delta", false, 42).rule_id() == "MW-FILE-001");
}
