// Config errors name the real file with line and column: a bad `sinks:` block through
// `modelwarden run --config` (it refuses to start before touching the kernel), and the checks
// load_agent_config makes itself (metrics.listen, control.tls keys).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/config.hpp"

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mw-cfg-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = path + "/" + name;
        std::ofstream(p) << text;
        return p;
    }
};

struct Run {
    int exit_code = -1;
    std::string output;  // stdout and stderr
};

Run run(const std::string& args) {
    Run r;
    FILE* p = ::popen((std::string(MW_AGENT_BINARY) + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

const char* kPolicy = R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: cfg-errors, owner: tests}
spec:
  mode: monitor
  selector:
    executable: ["/nonexistent/cfg-errors-only"]
)";

std::string load_error(const TempDir& dir, const std::string& yaml) {
    const auto path = dir.write("config.yaml", yaml);
    auto r = mw::load_agent_config(path);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

}  // namespace

TEST_CASE("config errors: a bad sinks block names the config file, line and column", "[config]") {
    TempDir dir;
    const auto policy = dir.write("policy.yaml", kPolicy);
    const auto config = dir.write("agent.yaml", "spool: {dir: " + dir.path + "/spool}\n"
                                                "sinks:\n"
                                                "  - type: file\n"
                                                "    path: " + dir.path + "/out.jsonl\n"
                                                "    pth: /tmp/typo\n");
    const auto r = run("run --config " + config + " --policy " + policy);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("sinks: refusing to start:\n" + config + ":5:5: sinks[0] (file): unknown key `pth` in `file sink`\n") !=
          std::string::npos);
    CHECK(r.output.find("config file:") == std::string::npos);
}

TEST_CASE("config errors: metrics.listen and control.tls are checked at load with positions", "[config]") {
    TempDir dir;
    const auto path = dir.path + "/config.yaml";
    CHECK(load_error(dir, "metrics:\n  listen: 127.0.0.1\n") ==
          path + ":2:11: `listen` must be ADDRESS:PORT with a port from 1 to 65535, got '127.0.0.1'");
    CHECK(load_error(dir, "metrics: {listen: '127.0.0.1:99999'}\n") ==
          path + ":1:19: `listen` must be ADDRESS:PORT with a port from 1 to 65535, got '127.0.0.1:99999'");
    CHECK(load_error(dir, "control:\n  tls:\n    cert: /c.pem\n    client_cert: /x.pem\n") ==
          path + ":4:5: unknown key `client_cert` in `control.tls`");
}

TEST_CASE("config errors: a good config records its path for later errors", "[config]") {
    TempDir dir;
    const auto path = dir.write("config.yaml", "metrics: {listen: '127.0.0.1:9477'}\ncontrol:\n  tls: {port: 8443}\n");
    auto r = mw::load_agent_config(path);
    REQUIRE(r.ok());
    CHECK(r->source == path);
    CHECK(r->metrics_listen == "127.0.0.1:9477");
    CHECK(mw::config_position(*r, r->control_tls) == path + ":3:8");
    CHECK(mw::config_position(mw::default_agent_config(), YAML::Node()) == "the default config");
}
