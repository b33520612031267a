// YAML policy parsing: the full schema, defaults, and every kind of bad or hostile input.
#include <catch2/catch.hpp>

#include <algorithm>

#include "policy/parser.hpp"
#include "test_util.hpp"

using namespace mw::policy;
using namespace mw::policy::test;

static std::vector<std::string> messages(const ParseReport& r) {
    std::vector<std::string> out;
    for (const auto& d : r.errors) out.push_back(d.str());
    return out;
}

static bool has_glob(const std::vector<Glob>& v, const std::string& p) {
    return std::any_of(v.begin(), v.end(), [&](const Glob& g) { return g.pattern() == p; });
}

static const char* kFull = R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: torchserve-prod, owner: ml-platform}
spec:
  mode: monitor
  selector:
    executable: ["/usr/bin/python3*"]
    cmdline_contains: ["serve.py"]
    cgroup: ["/system.slice/torchserve.service/"]
  process:
    exec: {allow: [], action: kill}
  files:
    read:  {allow: ["/usr/**", "/opt/models/**", "/proc/self/**"], action: alert}
    write: {allow: ["/var/log/torchserve/**", "/tmp/**"], action: deny}
    sensitive: {paths: ["/etc/shadow", "~/.ssh/**", "~/.aws/**"], action: kill}
  network:
    egress: {allow: ["10.0.0.0/8:443", "127.0.0.1:8080", "[::1]:443", "0.0.0.0/0:53/udp"], action: deny}
    listen: {allow: [8081, 8080, 8080], action: deny}
  models: {dirs: ["/opt/models"], manifest: /opt/models/manifest.json, trusted_keys: [/etc/modelwarden/keys/ml.pub]}
)";

TEST_CASE("policy parser: the issue's example parses completely", "[policy][parser]") {
    auto r = parse_policy_text(kFull, "full.yaml", fixture_options());
    INFO(messages(r).size());
    REQUIRE(r.ok());
    REQUIRE(r.policies.workloads.size() == 1);
    const auto& w = r.policies.workloads[0];
    CHECK(w.name == "torchserve-prod");
    CHECK(w.owner == "ml-platform");
    CHECK(w.origin == "full.yaml:1");
    CHECK(w.mode == Mode::monitor);
    CHECK_FALSE(w.risk.has_value());
    REQUIRE(w.selector.executables.size() == 1);
    CHECK(w.selector.executables[0].pattern() == "/usr/bin/python3*");
    CHECK(w.selector.cmdline_contains == std::vector<std::string>{"serve.py"});
    CHECK(w.selector.cgroups == std::vector<std::string>{"/system.slice/torchserve.service"});
    CHECK(w.exec.allow.empty());
    CHECK(w.exec.action == Action::kill);
    CHECK(w.read.allow.size() == 3);
    CHECK(w.read.action == Action::alert);
    CHECK(w.write.allow.size() == 2);
    CHECK(w.write.action == Action::deny);
    CHECK(w.sensitive.action == Action::kill);
    // Policy paths first, ~ expanded per home of the fixture, then the built-in defaults.
    CHECK(w.sensitive.paths[0].pattern() == "/etc/shadow");
    CHECK(w.sensitive.paths[1].pattern() == "/root/.ssh/**");
    CHECK(w.sensitive.paths[2].pattern() == "/usr/sbin/.ssh/**");
    CHECK(w.sensitive.paths[3].pattern() == "/home/alice/.ssh/**");
    CHECK(w.sensitive.paths[4].pattern() == "/home/bob/.ssh/**");
    for (auto p : {"/etc/gshadow", "/home/bob/.config/gcloud/**", "/home/alice/.azure/**", "/root/.kube/**",
                   "/home/alice/.kube/**", "/root/.docker/config.json", "/home/bob/.netrc", "/root/.git-credentials",
                   "/var/run/secrets/kubernetes.io/**", "/run/secrets/kubernetes.io/**", "/proc/*/mem",
                   "/proc/*/environ"})
        CHECK(has_glob(w.sensitive.paths, p));
    // No duplicates: "/etc/shadow" and "~/.ssh/**" are both policy and default entries.
    CHECK(std::count_if(w.sensitive.paths.begin(), w.sensitive.paths.end(),
                        [](const Glob& g) { return g.pattern() == "/etc/shadow"; }) == 1);
    // 9 from the policy; defaults add gshadow, 7 more ~ patterns x 4 homes (less /root/.kube
    // already listed), and 4 fixed paths: 9 + 1 + 27 + 1 (/root/.kube) = 38.
    CHECK(w.sensitive.paths.size() == 38);
    REQUIRE(w.egress.allow.size() == 4);
    CHECK(w.egress.allow[3].protocol == Protocol::udp);
    CHECK(w.egress.action == Action::deny);
    CHECK(w.listen.allow == std::vector<std::uint16_t>{8080, 8081});
    CHECK(w.listen.action == Action::deny);
    CHECK(w.models.dirs == std::vector<std::string>{"/opt/models"});
    CHECK(w.models.manifest == "/opt/models/manifest.json");
    CHECK(w.models.trusted_keys == std::vector<std::string>{"/etc/modelwarden/keys/ml.pub"});
}

TEST_CASE("policy parser: risk tiers pick mode and actions, explicit fields win", "[policy][parser]") {
    auto high = parse_policy_text(doc("a", "  risk: {harm: high, reversibility: low}\n" + kSelector +
                                               "  files: {read: {allow: []}, write: {allow: [], action: alert}}\n"),
                                  "h.yaml", fixture_options());
    REQUIRE(high.ok());
    const auto& h = high.policies.workloads[0];
    CHECK(h.mode == Mode::enforce);
    CHECK(h.exec.action == Action::kill);
    CHECK(h.egress.action == Action::deny);
    CHECK(h.listen.action == Action::deny);
    CHECK(h.sensitive.action == Action::deny);
    CHECK(h.read.action == Action::alert);
    CHECK(h.write.action == Action::alert);  // explicit overrides the tier's deny

    auto low = parse_policy_text(doc("b", "  risk: {harm: low, reversibility: high}\n" + kSelector), "l.yaml",
                                 fixture_options());
    REQUIRE(low.ok());
    CHECK(low.policies.workloads[0].mode == Mode::monitor);
    CHECK(low.policies.workloads[0].exec.action == Action::alert);

    auto forced = parse_policy_text(doc("c", "  mode: monitor\n  risk: {harm: high, reversibility: low}\n" + kSelector),
                                    "m.yaml", fixture_options());
    REQUIRE(forced.ok());
    CHECK(forced.policies.workloads[0].mode == Mode::monitor);
    CHECK(forced.policies.workloads[0].exec.action == Action::kill);

    auto none = parse_policy_text(doc("d", kSelector), "n.yaml", fixture_options());
    REQUIRE(none.ok());
    const auto& n = none.policies.workloads[0];
    CHECK(n.mode == Mode::monitor);
    CHECK(n.exec.action == Action::alert);
    CHECK(n.read.allow.empty());  // a missing allow list is an empty one: least privilege
    CHECK(n.egress.allow.empty());
}

TEST_CASE("policy parser: unknown keys, wrong types and bad values, all reported with positions", "[policy][parser]") {
    std::string text = doc("typo", R"(  mode: enforced
  selector: {executable: ["/usr/bin/python3*"], cmdlin_contains: ["x"]}
  process: {exec: {alow: ["/bin/sh"]}}
  files:
    read: {allow: "/usr/**"}
    write: {allow: ["relative/path"], action: explode}
    sensitive: {paths: ["/a/[b"]}
  network:
    egress: {allow: ["10.0.0.1/8:443", 42], action: deny}
    listen: {allow: [8080, 70000, "http"], action: isolate}
  models: {dirs: [models]}
  audit_all: maybe
)");
    auto r = parse_policy_text(text, "bad.yaml", fixture_options());
    CHECK(r.policies.workloads.empty());
    CHECK(messages(r) == std::vector<std::string>{
        "bad.yaml:5:9: spec.mode: 'enforced' is not monitor or enforce",
        "bad.yaml:16:14: spec.audit_all: 'maybe' is not true or false",
        "bad.yaml:6:49: spec.selector: unknown key 'cmdlin_contains' (expected one of: executable, cmdline_contains, cgroup)",
        "bad.yaml:7:20: process.exec: unknown key 'alow' (expected one of: allow, action, fallback)",
        "bad.yaml:9:19: files.read.allow must be a list, found a scalar",
        "bad.yaml:10:21: files.write.allow: 'relative/path' must be an absolute path or start with ~/",
        "bad.yaml:10:47: files.write.action: unknown action 'explode' (alert, deny, kill, freeze, isolate)",
        "bad.yaml:11:25: files.sensitive.paths: glob '/a/[b': unterminated [",
        "bad.yaml:13:22: network.egress.allow: destination '10.0.0.1/8:443': address has bits set beyond the prefix length",
        "bad.yaml:13:40: network.egress.allow: destination '42': not an IPv4/IPv6 address (hostnames are not supported)",
        "bad.yaml:14:28: network.listen.allow: '70000' is not a port (1..65535)",
        "bad.yaml:14:35: network.listen.allow: 'http' is not a port (1..65535)",
        "bad.yaml:14:52: network.listen.action: 'isolate' does not apply to this rule (use alert, deny or kill)",
        "bad.yaml:15:19: spec.models.dirs: 'models' must be an absolute path",
    });
}

TEST_CASE("policy parser: document-level errors", "[policy][parser]") {
    auto opts = fixture_options();
    CHECK(messages(parse_policy_text("- a\n- b\n", "l.yaml", opts)) ==
          std::vector<std::string>{"l.yaml:1:1: policy document must be a mapping, found a list"});
    CHECK(messages(parse_policy_text("", "e.yaml", opts)) == std::vector<std::string>{"e.yaml: no policy documents"});
    CHECK(messages(parse_policy_text("apiVersion: v2\nkind: Pod\nmetadata: {name: x}\nspec: {}\n", "k.yaml", opts)) ==
          std::vector<std::string>{
              "k.yaml:1:13: apiVersion must be modelwarden/v1, not 'v2'",
              "k.yaml:2:7: kind must be WorkloadPolicy, not 'Pod'",
              "k.yaml:4:7: spec: missing required key 'selector'",
          });
    CHECK(messages(parse_policy_text("apiVersion: modelwarden/v1\nkind: WorkloadPolicy\nspec: {selector: {}}\n", "m.yaml",
                                     opts)) ==
          std::vector<std::string>{
              "m.yaml:1:1: policy document: missing required key 'metadata'",
              "m.yaml:3:18: spec.selector selects nothing: give at least one executable glob or cgroup "
              "(cmdline_contains only narrows them)",
          });
    CHECK(messages(parse_policy_text(doc("Bad Name", kSelector), "n.yaml", opts)) ==
          std::vector<std::string>{
              "n.yaml:3:18: metadata.name 'Bad Name': use 1-63 of a-z 0-9 - _ . starting with a letter or digit"});
    CHECK(messages(parse_policy_text(doc("x", "  selector: {cmdline_contains: [serve.py]}\n"), "c.yaml", opts)) ==
          std::vector<std::string>{"c.yaml:5:13: spec.selector selects nothing: give at least one executable glob or "
                                   "cgroup (cmdline_contains only narrows them)"});
    CHECK(messages(parse_policy_text("a: [1, 2\n", "s.yaml", opts)) ==
          std::vector<std::string>{"s.yaml:2:1: YAML syntax error: end of sequence flow not found"});
}

TEST_CASE("policy parser: duplicate keys and duplicate policy names", "[policy][parser]") {
    auto r = parse_policy_text(doc("x", kSelector + "  mode: monitor\n  mode: enforce\n"), "d.yaml", fixture_options());
    CHECK(messages(r) == std::vector<std::string>{"d.yaml:7:3: spec: duplicate key 'mode' (first on line 6)"});

    std::string two = doc("same", kSelector) + "---\n" + doc("same", kSelector);
    auto d = parse_policy_text(two, "two.yaml", fixture_options());
    CHECK(d.policies.workloads.empty());
    CHECK(messages(d) == std::vector<std::string>{
                             "two.yaml:9:18: duplicate policy name 'same' (first defined at two.yaml:3:18)"});
}

TEST_CASE("policy parser: multi-document text keeps order and a bad document voids the set", "[policy][parser]") {
    std::string text = doc("first", kSelector) + "---\n" + doc("second", kSelector) + "---\n";
    auto r = parse_policy_text(text, "m.yaml", fixture_options());
    REQUIRE(r.ok());
    REQUIRE(r.policies.workloads.size() == 2);
    CHECK(r.policies.workloads[0].name == "first");
    CHECK(r.policies.workloads[1].name == "second");
    CHECK(r.policies.workloads[1].origin == "m.yaml:7");

    auto bad = parse_policy_text(text + doc("third", "  selector: {executable: [python]}\n"), "m.yaml", fixture_options());
    CHECK(bad.policies.workloads.empty());  // never a half-configured set
    CHECK(messages(bad) == std::vector<std::string>{
                               "m.yaml:17:27: spec.selector.executable: 'python' must be an absolute path glob"});
}

TEST_CASE("policy parser: hostile YAML", "[policy][parser]") {
    auto opts = fixture_options();
    SECTION("alias bomb: shared nodes are walked only where the schema looks") {
        std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
        char prev = 'a';
        for (char c = 'b'; c <= 'j'; ++c) {
            bomb += std::string(1, c) + ": &" + c + " [";
            for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
            bomb += "]\n";
            prev = c;
        }
        auto r = parse_policy_text(bomb, "bomb.yaml", opts);
        CHECK(messages(r).size() == 14);  // 10 billion leaves, but only the 10 top-level keys are visited,
        // plus the 4 missing required keys
        CHECK(messages(r)[0] == "bomb.yaml:1:1: policy document: unknown key 'a' (expected one of: apiVersion, kind, "
                                "metadata, spec)");
    }
    SECTION("alias bomb inside an allow list is a type error per element, capped") {
        std::string text = doc("x", kSelector + "  files:\n    read:\n      allow: &l [[a, a], [b, b]]\n");
        auto r = parse_policy_text(text, "l.yaml", opts);
        CHECK(messages(r) == std::vector<std::string>{
                                 "l.yaml:8:18: files.read.allow entry must be a string, found a list",
                                 "l.yaml:8:26: files.read.allow entry must be a string, found a list"});
    }
    SECTION("too many errors stop at the cap") {
        std::string text = doc("x", kSelector + "  network:\n    listen:\n      allow: [");
        for (int i = 0; i < 500; ++i) text += std::string(i ? ", " : "") + "nope";
        text += "]\n";
        auto r = parse_policy_text(text, "c.yaml", opts);
        REQUIRE(r.errors.size() == 101);
        CHECK(r.errors.back().message == "too many errors, stopping");
    }
    SECTION("deep nesting is refused by the YAML layer, not a stack overflow") {
        std::string deep(100000, '[');
        auto r = parse_policy_text(deep, "deep.yaml", opts);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message.starts_with("YAML syntax error:"));
    }
    SECTION("huge documents are refused before parsing") {
        std::string huge = doc("x", kSelector) + "# " + std::string(5u << 20, 'x') + "\n";
        auto r = parse_policy_text(huge, "huge.yaml", opts);
        CHECK(messages(r) == std::vector<std::string>{"huge.yaml: policy is " + std::to_string(huge.size()) +
                                                      " bytes, more than the 4194304 a policy may have"});
    }
    SECTION("wrong scalar types and NUL bytes") {
        auto r = parse_policy_text(doc("x", "  selector: {executable: {a: b}}\n  mode: [enforce]\n"), "t.yaml", opts);
        CHECK(messages(r) == std::vector<std::string>{
                                 "t.yaml:6:9: spec.mode must be a string, found a list",
                                 "t.yaml:5:26: spec.selector.executable must be a list, found a mapping",
                             });
        auto nul = parse_policy_text(doc("x", "  selector: {executable: [\"/usr/bin/py\\0thon\"]}\n"), "z.yaml", opts);
        CHECK(messages(nul) == std::vector<std::string>{"z.yaml:5:27: spec.selector.executable entry contains a NUL byte"});
    }
    SECTION("non-string keys and a null spec") {
        auto r = parse_policy_text(doc("x", "  ? [a]\n  : b\n") + "", "k.yaml", opts);
        CHECK(messages(r)[0] == "k.yaml:5:5: spec: keys must be strings");
        auto n = parse_policy_text("apiVersion: modelwarden/v1\nkind: WorkloadPolicy\nmetadata: {name: x}\nspec:\n", "n.yaml",
                                   opts);
        CHECK(messages(n) == std::vector<std::string>{"n.yaml:5:1: spec must be a mapping, found empty"});
    }
}

TEST_CASE("policy parser: files and directories", "[policy][parser]") {
    auto opts = fixture_options();
    auto r = parse_policy_paths({MW_POLICY_SOURCE_DIR "/default/pytorch-server.yaml", MW_POLICY_SOURCE_DIR "/examples"},
                                opts);
    INFO((r.errors.empty() ? "" : r.errors[0].str()));
    REQUIRE(r.ok());
    std::vector<std::string> names;
    for (const auto& w : r.policies.workloads) names.push_back(w.name);
    // Directory files sorted by name; documents in file order.
    CHECK(names == std::vector<std::string>{"pytorch-server", "vllm-chat", "batch-scorer", "torchserve-prod"});

    auto missing = parse_policy_paths({"/nonexistent/policy.yaml"}, opts);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].unreadable);
    CHECK(missing.errors[0].str() == "/nonexistent/policy.yaml: cannot read: No such file or directory");

    auto dup = parse_policy_paths({MW_POLICY_SOURCE_DIR "/examples", MW_POLICY_SOURCE_DIR "/examples/inference-fleet.yaml"},
                                  opts);
    CHECK(dup.policies.workloads.empty());
    CHECK(dup.errors.size() == 2);
    CHECK(dup.errors[0].message.starts_with("duplicate policy name 'vllm-chat' (first defined at "));

    auto set = load_policy_set({"/nonexistent/a.yaml", "/nonexistent/b.yaml"}, opts);
    REQUIRE_FALSE(set.ok());
    CHECK(set.error().message == "/nonexistent/a.yaml: cannot read: No such file or directory\n"
                                 "/nonexistent/b.yaml: cannot read: No such file or directory");
    auto good = load_policy_set({MW_POLICY_SOURCE_DIR "/default"}, opts);
    REQUIRE(good.ok());
    CHECK(good->workloads.size() == 1);
}
