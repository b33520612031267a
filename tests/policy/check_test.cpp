// `policy check`: output lines and exit codes.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "policy/check.hpp"
#include "test_util.hpp"

using namespace mw::policy;

namespace {
// A policy file in the test's own temp dir, removed afterwards.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char tmpl[] = "/tmp/mw-policy-check-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        close(fd);
        path = tmpl;
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path.c_str()); }
};
}  // namespace

TEST_CASE("policy check: valid policies print one summary line each, exit 0", "[policy][check]") {
    std::ostringstream out;
    int rc = run_policy_check({MW_POLICY_SOURCE_DIR "/examples/inference-fleet.yaml"}, out, test::fixture_options());
    CHECK(rc == 0);
    CHECK(out.str() ==
          MW_POLICY_SOURCE_DIR "/examples/inference-fleet.yaml:3: policy vllm-chat ok: mode enforce, selector 0 exe/0 "
                               "cmdline/1 cgroup, exec allow 1 (kill), read allow 6 (alert), write allow 3 (deny), "
                               "sensitive 38 (alert), egress allow 2 (isolate), listen allow 1 (deny)\n" MW_POLICY_SOURCE_DIR
                               "/examples/inference-fleet.yaml:19: policy batch-scorer ok: mode monitor, selector 1 "
                               "exe/1 cmdline/0 cgroup, exec allow 0 (alert), read allow 3 (alert), write allow 2 "
                               "(alert), sensitive 38 (alert), egress allow 1 (alert), listen allow 0 (alert)\n");
}

TEST_CASE("policy check: invalid policy prints file:line:col errors, exit 1", "[policy][check]") {
    TempFile f(test::doc("x", "  selector: {executable: [\"/usr/bin/python3*\"]}\n  files: {raed: {allow: []}}\n"));
    std::ostringstream out;
    CHECK(run_policy_check({f.path}, out, test::fixture_options()) == 1);
    CHECK(out.str() == f.path + ":6:11: spec.files: unknown key 'raed' (expected one of: read, write, sensitive)\n");
}

TEST_CASE("policy check: unreadable file exits 2, even beside an invalid one", "[policy][check]") {
    TempFile bad("spec: [\n");
    std::ostringstream out;
    CHECK(run_policy_check({bad.path, "/nonexistent/p.yaml"}, out, test::fixture_options()) == 2);
    CHECK(out.str() == bad.path + ":2:1: YAML syntax error: end of sequence flow not found\n"
                                  "/nonexistent/p.yaml: cannot read: No such file or directory\n");
    std::ostringstream none;
    CHECK(run_policy_check({}, none) == 2);
    CHECK(none.str() == "policy check: no files given\n");
}

TEST_CASE("policy check: the shipped default policy is valid", "[policy][check]") {
    std::ostringstream out;
    CHECK(run_policy_check({MW_POLICY_SOURCE_DIR "/default/pytorch-server.yaml"}, out) == 0);
    CHECK(out.str().find("policy pytorch-server ok: mode monitor") != std::string::npos);
}
