// `modelwarden` exit codes on usage errors: 2 with one line on stderr, as mw-scan does
// (0 ok, 1 findings or failure, 2 usage or error), never CLI11's own codes (105, 106, 109...).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace {

struct Run {
    int exit_code = -1;
    std::string out;  // stdout and stderr
};

Run run(const std::string& args) {
    Run r;
    FILE* p = ::popen((std::string(MW_AGENT_BINARY) + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace

TEST_CASE("cli: an unknown flag exits 2 with one line", "[cli]") {
    const auto r = run("run --no-such-flag");
    CHECK(r.exit_code == 2);
    CHECK(r.out == "modelwarden: error: The following argument was not expected: --no-such-flag (see modelwarden --help)\n");
}

TEST_CASE("cli: a bad option value exits 2 with one line", "[cli]") {
    const auto r = run("run --log-level loud");
    CHECK(r.exit_code == 2);
    CHECK(r.out.rfind("modelwarden: error: --log-level: ", 0) == 0);
    CHECK(r.out.find("loud") != std::string::npos);
    CHECK(r.out.find('\n') == r.out.size() - 1);  // exactly one line
}

TEST_CASE("cli: a missing subcommand exits 2 with one line", "[cli]") {
    const auto r = run("");
    CHECK(r.exit_code == 2);
    CHECK(r.out.rfind("modelwarden: error: ", 0) == 0);
    CHECK(r.out.find('\n') == r.out.size() - 1);
}

TEST_CASE("cli: --help and --version still exit 0", "[cli]") {
    const auto help = run("--help");
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("modelwarden: eBPF security agent for ML model-serving hosts") != std::string::npos);
    const auto version = run("--version");
    CHECK(version.exit_code == 0);
    CHECK_FALSE(version.out.empty());
}
