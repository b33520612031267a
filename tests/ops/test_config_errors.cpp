// Config errors name the real file with line and column: a bad `sinks:` block through
// `modelwarden run --config` (it refuses to start before touching the kernel), and the checks
// load_agent_config makes itself (metrics.listen, control.tls keys).
#include <catch2/catch.hpp>

#include <string>

#include "agent_harness.hpp"
#include "daemon/config.hpp"

using namespace mw::test;

namespace {

// Writes `text` to the file `name` in dir; its path.
std::string write_in(const TempDir& dir, const std::string& name, const std::string& text) {
    write_file(dir.file(name), text);
    return dir.file(name);
}

std::string load_error(const TempDir& dir, const std::string& yaml) {
    const auto path = write_in(dir, "config.yaml", yaml);
    auto r = mw::load_agent_config(path);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

}  // namespace

TEST_CASE("config errors: a bad sinks block names the config file, line and column", "[config]") {
    TempDir dir;
    const auto policy = write_in(dir, "policy.yaml", policy_yaml({.name = "cfg-errors", .tag = unique_tag("mw-cfg-errors")}));
    const auto config = write_in(dir, "agent.yaml", "spool: {dir: " + dir.path() + "/spool}\n"
                                                "sinks:\n"
                                                "  - type: file\n"
                                                "    path: " + dir.path() + "/out.jsonl\n"
                                                "    pth: /tmp/typo\n");
    const auto r = run_agent_cli({"run", "--config", config, "--policy", policy}, true);
    INFO(r.stdout_text);
    CHECK(r.exit_code() == 1);
    CHECK(r.stdout_text.find("sinks: refusing to start:\n" + config + ":5:5: sinks[0] (file): unknown key `pth` in `file sink`\n") !=
          std::string::npos);
    CHECK(r.stdout_text.find("config file:") == std::string::npos);
}

TEST_CASE("config errors: metrics.listen and control.tls are checked at load with positions", "[config]") {
    TempDir dir;
    const auto path = dir.path() + "/config.yaml";
    CHECK(load_error(dir, "metrics:\n  listen: 127.0.0.1\n") ==
          path + ":2:11: `listen` must be ADDRESS:PORT with a port from 1 to 65535, got '127.0.0.1'");
    CHECK(load_error(dir, "metrics: {listen: '127.0.0.1:99999'}\n") ==
          path + ":1:19: `listen` must be ADDRESS:PORT with a port from 1 to 65535, got '127.0.0.1:99999'");
    CHECK(load_error(dir, "control:\n  tls:\n    cert: /c.pem\n    client_cert: /x.pem\n") ==
          path + ":4:5: unknown key `client_cert` in `control.tls`");
}

TEST_CASE("config errors: a good config records its path for later errors", "[config]") {
    TempDir dir;
    const auto path = write_in(dir, "config.yaml", "metrics: {listen: '127.0.0.1:9477'}\ncontrol:\n  tls: {port: 8443}\n");
    auto r = mw::load_agent_config(path);
    REQUIRE(r.ok());
    CHECK(r->source == path);
    CHECK(r->metrics_listen == "127.0.0.1:9477");
    CHECK(mw::config_position(*r, r->control_tls) == path + ":3:8");
    CHECK(mw::config_position(mw::default_agent_config(), YAML::Node()) == "the default config");
}
