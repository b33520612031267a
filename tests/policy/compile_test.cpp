// The kernel-map compiler, checked byte by byte against the ABI structs.
#include <catch2/catch.hpp>

#include <cstring>

#include "policy/compile.hpp"
#include "policy/parser.hpp"
#include "test_util.hpp"

using namespace mw::policy;
using namespace mw::policy::test;

static ParseOptions root_only() {
    ParseOptions o;
    o.passwd_path = MW_POLICY_TEST_DIR "/passwd.rootonly";
    return o;
}

static PolicySet parse(const std::string& text) {
    auto r = parse_policy_text(text, "c.yaml", root_only());
    INFO((r.errors.empty() ? "" : r.errors[0].str()));
    REQUIRE(r.ok());
    return r.policies;
}

template <class T>
static std::vector<std::uint8_t> bytes_of(const T& v) {
    std::vector<std::uint8_t> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

// Expected path key, built independently of compile.cpp: prefixlen (host order), the
// workload id big-endian, then the path bytes, zero padded.
static std::vector<std::uint8_t> path_key(std::uint32_t wid, const std::string& bytes) {
    std::vector<std::uint8_t> k(sizeof(mw_path_rule_key), 0);
    std::uint32_t bits = static_cast<std::uint32_t>(32 + bytes.size() * 8);
    std::memcpy(k.data(), &bits, 4);
    k[4] = static_cast<std::uint8_t>(wid >> 24);
    k[5] = static_cast<std::uint8_t>(wid >> 16);
    k[6] = static_cast<std::uint8_t>(wid >> 8);
    k[7] = static_cast<std::uint8_t>(wid);
    std::memcpy(k.data() + 8, bytes.data(), bytes.size());
    return k;
}

static std::string nul(const char* s) { return std::string(s) + '\0'; }

TEST_CASE("policy compile: path rules, prefixes, exact paths, demotion", "[policy][compile]") {
    std::string longdir = "/data/" + std::string(300, 'x');
    auto set = parse(doc("w", kSelector + R"(  files:
    read:
      allow: ["/usr/**", "/proc/self/**", "/proc/cpuinfo", "/root/**", "/root/.ssh/known_hosts",
              "/opt/models/*.pt", "/etc/hosts", ")" + longdir + R"("]
    write: {allow: ["/tmp/**", "/usr/**"]}
    sensitive: {paths: ["/etc/shadow"]}
)"));
    auto rules = compile_path_rules(set.workloads[0], 3);
    const std::uint32_t R = MW_PATH_ALLOW_READ, W = MW_PATH_ALLOW_WRITE, S = MW_PATH_SENSITIVE, U = MW_PATH_USERSPACE;
    std::vector<std::pair<std::string, std::uint32_t>> expected{
        {longdir.substr(0, MW_LPM_PATH_BYTES), U},  // too long for the trie: user space decides
        {nul("/etc/gshadow"), S},
        {nul("/etc/hosts"), R},
        {nul("/etc/shadow"), S},
        {"/opt/models/", U},                        // wildcard allow: literal prefix, user space
        {"/proc/", U},                              // from the sensitive /proc/*/mem and /proc/*/environ
        {nul("/proc/cpuinfo"), U},                  // allow under a USERSPACE prefix: demoted
        {"/proc/self/", U},                         // so /proc/self/mem still reaches user space
        {"/root/", R},
        {"/root/.aws/", S},
        {"/root/.azure/", S},
        {"/root/.config/gcloud/", S},
        {nul("/root/.docker/config.json"), S},
        {nul("/root/.git-credentials"), S},
        {"/root/.kube/", S},
        {nul("/root/.netrc"), S},
        {"/root/.ssh/", S},
        {nul("/root/.ssh/known_hosts"), S},         // allow under a sensitive prefix: sensitive wins
        {"/run/secrets/kubernetes.io/", S},
        {"/tmp/", W},
        {"/usr/", R | W},
        {"/var/run/secrets/kubernetes.io/", S},
    };
    REQUIRE(rules.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO("entry " << i << ": " << expected[i].first.c_str());
        CHECK(bytes_of(rules[i].key) == path_key(3, expected[i].first));
        CHECK(rules[i].value.flags == expected[i].second);
    }
}

TEST_CASE("policy compile: workload config bytes", "[policy][compile]") {
    auto set = parse(doc("w", "  mode: enforce\n  audit_all: true\n" + kSelector + R"(  process: {exec: {action: kill}}
  files: {read: {action: alert}, write: {action: deny}, sensitive: {action: freeze}}
  network: {egress: {action: isolate}, listen: {action: deny}}
)"));
    auto c = compile_workload_config(set.workloads[0]);
    CHECK(bytes_of(c) == std::vector<std::uint8_t>{3, 0, 0, 0, MW_ACTION_KILL, MW_ACTION_ALERT, MW_ACTION_DENY,
                                                   MW_ACTION_FREEZE, MW_ACTION_ISOLATE, MW_ACTION_DENY, 0, 0, 0, 0, 0, 0});
    auto mon = parse(doc("m", kSelector));
    CHECK(bytes_of(compile_workload_config(mon.workloads[0])) ==
          std::vector<std::uint8_t>{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("policy compile: net rules are v4-mapped with big-endian id and port", "[policy][compile]") {
    auto set = parse(doc("w", kSelector + R"(  network:
    egress: {allow: ["10.0.0.0/8:443", "[::1]:*", "0.0.0.0/0:53/udp", "0.0.0.0/0:53/tcp", "[fd00::/8]:8443/tcp"]}
    listen: {allow: [8081, 8080]}
)"));
    auto net = compile_net_rules(set.workloads[0], 0x01020304);
    REQUIRE(net.size() == 4);
    auto key = [](std::uint32_t bits, std::uint16_t port, std::vector<std::uint8_t> addr) {
        std::vector<std::uint8_t> k(sizeof(mw_net_rule_key), 0);
        std::memcpy(k.data(), &bits, 4);
        std::vector<std::uint8_t> head{1, 2, 3, 4, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port), 0, 0};
        std::copy(head.begin(), head.end(), k.begin() + 4);
        std::copy(addr.begin(), addr.end(), k.begin() + 12);
        return k;
    };
    CHECK(bytes_of(net[0].key) == key(64 + 104, 443, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0}));
    CHECK(net[0].value.flags == (MW_NET_ALLOW_TCP | MW_NET_ALLOW_UDP));
    CHECK(bytes_of(net[1].key) == key(64 + 128, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
    CHECK(bytes_of(net[2].key) == key(64 + 96, 53, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0}));
    CHECK(net[2].value.flags == (MW_NET_ALLOW_UDP | MW_NET_ALLOW_TCP));  // udp and tcp rules merged
    CHECK(bytes_of(net[3].key) == key(64 + 8, 8443, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    CHECK(net[3].value.flags == MW_NET_ALLOW_TCP);

    auto listen = compile_listen_rules(set.workloads[0], 7);
    REQUIRE(listen.size() == 2);
    std::vector<std::uint8_t> l0(8, 0), l1(8, 0);
    std::uint32_t id = 7;
    std::uint16_t p0 = 8080, p1 = 8081;
    std::memcpy(l0.data(), &id, 4);
    std::memcpy(l0.data() + 4, &p0, 2);
    std::memcpy(l1.data(), &id, 4);
    std::memcpy(l1.data() + 4, &p1, 2);
    CHECK(bytes_of(listen[0]) == l0);
    CHECK(bytes_of(listen[1]) == l1);
}

TEST_CASE("policy compile: whole set, ids, selector prefixes and cgroups", "[policy][compile]") {
    auto set = parse(doc("a", "  mode: enforce\n" + kSelector) + "---\n" +
                     doc("b", R"(  selector:
    executable: ["/usr/bin/python3*", "/opt/conda/bin/python", "/srv/envs/**"]
    cgroup: ["/system.slice/b.service"]
  network: {listen: {allow: [9000]}}
)"));
    auto c = compile_policy_set(set);
    REQUIRE(c.workloads.size() == 2);
    CHECK(c.workloads[0].flags == MW_WL_ENFORCE);
    CHECK(c.workloads[1].flags == 0);
    REQUIRE(c.listen_rules.size() == 1);
    CHECK(c.listen_rules[0].workload_id == 2);
    CHECK(c.listen_rules[0].port == 9000);
    // Path rules carry their workload id in the key: 13 defaults for each workload.
    REQUIRE(c.path_rules.size() == 26);
    CHECK(c.path_rules[0].key.workload_id == htobe32(1));
    CHECK(c.path_rules[13].key.workload_id == htobe32(2));

    REQUIRE(c.selector_prefixes.size() == 3);
    auto sel = [](const std::string& bytes) {
        std::vector<std::uint8_t> k(sizeof(mw_selector_key), 0);
        std::uint32_t bits = static_cast<std::uint32_t>(bytes.size() * 8);
        std::memcpy(k.data(), &bits, 4);
        std::memcpy(k.data() + 4, bytes.data(), bytes.size());
        return k;
    };
    CHECK(bytes_of(c.selector_prefixes[0].key) == sel(nul("/opt/conda/bin/python")));
    CHECK(c.selector_prefixes[0].workload_id == 2);
    CHECK(bytes_of(c.selector_prefixes[1].key) == sel("/srv/envs/"));
    CHECK(c.selector_prefixes[1].workload_id == 2);
    CHECK(bytes_of(c.selector_prefixes[2].key) == sel("/usr/bin/python3"));
    CHECK(c.selector_prefixes[2].workload_id == MW_WORKLOAD_PENDING);  // shared by a and b
    REQUIRE(c.selector_cgroups.size() == 1);
    CHECK(c.selector_cgroups[0].path == "/system.slice/b.service");
    CHECK(c.selector_cgroups[0].workload_id == 2);
}
