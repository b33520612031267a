// `modelwarden` exit codes on usage errors: 2 with one line on stderr, as mw-scan does
// (0 ok, 1 findings or failure, 2 usage or error), never CLI11's own codes (105, 106, 109...).
#include <catch2/catch.hpp>

#include <string>

#include "agent_harness.hpp"

using mw::test::run_agent_cli;

TEST_CASE("cli: an unknown flag exits 2 with one line", "[cli]") {
    const auto r = run_agent_cli({"run", "--no-such-flag"}, true);
    CHECK(r.exit_code() == 2);
    CHECK(r.stdout_text == "modelwarden: error: The following argument was not expected: --no-such-flag (see modelwarden --help)\n");
}

TEST_CASE("cli: a bad option value exits 2 with one line", "[cli]") {
    const auto r = run_agent_cli({"run", "--log-level", "loud"}, true);
    CHECK(r.exit_code() == 2);
    CHECK(r.stdout_text.rfind("modelwarden: error: --log-level: ", 0) == 0);
    CHECK(r.stdout_text.find("loud") != std::string::npos);
    CHECK(r.stdout_text.find('\n') == r.stdout_text.size() - 1);  // exactly one line
}

TEST_CASE("cli: a missing subcommand exits 2 with one line", "[cli]") {
    const auto r = run_agent_cli({}, true);
    CHECK(r.exit_code() == 2);
    CHECK(r.stdout_text.rfind("modelwarden: error: ", 0) == 0);
    CHECK(r.stdout_text.find('\n') == r.stdout_text.size() - 1);
}

TEST_CASE("cli: --help and --version still exit 0", "[cli]") {
    const auto help = run_agent_cli({"--help"}, true);
    CHECK(help.exit_code() == 0);
    CHECK(help.stdout_text.find("modelwarden: eBPF security agent for ML model-serving hosts") != std::string::npos);
    const auto version = run_agent_cli({"--version"}, true);
    CHECK(version.exit_code() == 0);
    CHECK_FALSE(version.stdout_text.empty());
}
