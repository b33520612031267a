// `sinks:` config parsing: every option lands where it should, every mistake is an error with
// file:line:column, and secrets come only from files or the environment and never show in errors.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include "sinks/sinks_config.hpp"
#include "test_dir.hpp"

using namespace mw;
using namespace std::chrono_literals;

namespace {

Result<SinksConfig> parse(const std::string& yaml) {
    const YAML::Node root = YAML::Load(yaml);
    return parse_sinks_config(root["sinks"], "cfg.yaml");
}

std::string parse_error(const std::string& yaml) {
    auto r = parse(yaml);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

void write(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
    std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace

TEST_CASE("sinks config: every sink type with its options", "[sinks_config]") {
    TestDir dir;
    write(dir.path / "hec.token", "hec-secret-1234\n");
    write(dir.path / "key.pass", "pw");
    ::setenv("MW_TEST_ES_KEY", "aWQ6a2V5", 1);
    const std::string yaml = R"(sinks:
  - type: hec
    name: splunk
    url: https://splunk.example:8088
    token_file: )" + (dir.path / "hec.token").string() + R"(
    index: security
    sourcetype: modelwarden:ecs
    ack: true
    ack_poll: 250ms
    ack_timeout: 5m
    gzip_level: 6
    tls: {ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/k.pem, key_password_file: )" +
                             (dir.path / "key.pass").string() + R"(}
    batch: {max_events: 100, max_bytes: 65536, idle_poll: 50ms}
    retry: {initial: 100ms, max: 10s, auth_retry: 2m}
    dead_letter: /var/lib/modelwarden/dead-splunk.jsonl
  - type: bulk
    url: http://127.0.0.1:9200
    api_key_env: MW_TEST_ES_KEY
    alerts_stream: logs-mw.alerts-prod
    gzip: false
  - type: syslog
    name: rsyslog
    transport: tcp
    host: 127.0.0.1
    facility: 10
  - type: file
    path: /var/log/modelwarden/events.jsonl
    max_bytes: 10000
    keep: 3
  - {type: stdout, name: console}
)";
    auto r = parse(yaml);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    REQUIRE(r->sinks.size() == 5);

    const auto& s0 = r->sinks[0];
    CHECK(s0.name == "splunk");
    CHECK(std::string(s0.type()) == "hec");
    const auto& hec = std::get<HecOptions>(s0.options);
    CHECK(hec.name == "splunk");
    CHECK(hec.url == "https://splunk.example:8088");
    CHECK(hec.token == "hec-secret-1234");  // trailing newline of the file stripped
    CHECK(hec.index == "security");
    CHECK(hec.sourcetype == "modelwarden:ecs");
    CHECK(hec.ack);
    CHECK(hec.ack_poll == 250ms);
    CHECK(hec.ack_timeout == 300s);
    CHECK(hec.gzip);
    CHECK(hec.gzip_level == 6);
    CHECK(hec.tls.ca_file == "/etc/ca.pem");
    CHECK(hec.tls.cert_file == "/etc/c.pem");
    CHECK(hec.tls.key_file == "/etc/k.pem");
    CHECK(hec.tls.key_password == "pw");
    CHECK(hec.tls.verify);
    CHECK(hec.batch.max_events == 100);
    CHECK(hec.batch.max_bytes == 65536);
    CHECK(hec.batch.idle_poll == 50ms);
    CHECK(hec.retry.initial == 100ms);
    CHECK(hec.retry.max == 10s);
    CHECK(hec.retry.auth_retry == 120s);
    CHECK(hec.dead_letter_path == "/var/lib/modelwarden/dead-splunk.jsonl");

    CHECK(r->sinks[1].name == "bulk");  // default name = type
    const auto& bulk = std::get<BulkOptions>(r->sinks[1].options);
    CHECK(bulk.api_key == "aWQ6a2V5");
    CHECK(bulk.alerts_stream == "logs-mw.alerts-prod");
    CHECK(bulk.events_stream == "logs-modelwarden.events-default");
    CHECK_FALSE(bulk.gzip);

    const auto& sys = std::get<SyslogOptions>(r->sinks[2].options);
    CHECK(sys.name == "rsyslog");
    CHECK(sys.transport == SyslogTransport::Tcp);
    CHECK(sys.port == "514");  // plain TCP's default, not RFC 5425's 6514
    CHECK(sys.facility == 10);

    const auto& file = std::get<FileSinkOptions>(r->sinks[3].options);
    CHECK(file.path == "/var/log/modelwarden/events.jsonl");
    CHECK(file.max_bytes == 10000);
    CHECK(file.keep == 3);
    CHECK(file.format == SinkFormat::Ecs);

    CHECK(r->sinks[4].name == "console");
    CHECK(std::string(r->sinks[4].type()) == "stdout");
}

TEST_CASE("sinks config: absent or empty section means no sinks", "[sinks_config]") {
    CHECK(parse("other: 1\n")->sinks.empty());
    CHECK(parse("sinks:\n")->sinks.empty());
    CHECK(parse("sinks: []\n")->sinks.empty());
}

TEST_CASE("sinks config: errors name the line and column", "[sinks_config]") {
    CHECK(parse_error("sinks: {type: hec}\n") ==
          "cfg.yaml:1:8: sinks: `sinks` must be a list of sinks (each `- type: hec|bulk|syslog|file|stdout`)");
    CHECK(parse_error("sinks:\n  - type: file\n    path: /tmp/x\n    pth: /tmp/y\n") ==
          "cfg.yaml:4:5: sinks[0] (file): unknown key `pth` in `file sink`");
    CHECK(parse_error("sinks:\n  - type: kafka\n") ==
          "cfg.yaml:2:11: sinks[0] (kafka): unknown sink type 'kafka' (hec, bulk, syslog, file or stdout)");
    CHECK(parse_error("sinks:\n  - name: x\n") ==
          "cfg.yaml:2:5: sinks[0]: `type` is required (hec, bulk, syslog, file or stdout)");
    CHECK(parse_error("sinks:\n  - {type: stdout, batch: {idle_poll: 100}}\n") ==
          "cfg.yaml:2:39: sinks[0] (stdout): `idle_poll`: '100' needs a unit: ms, s, m or h");
    CHECK(parse_error("sinks:\n  - {type: file, path: /a, keep: many}\n") ==
          "cfg.yaml:2:34: sinks[0] (file): `keep` has the wrong type");
    CHECK(parse_error("sinks:\n  - {type: stdout}\n  - {type: stdout}\n") ==
          "cfg.yaml:3:5: sinks[1]: sink name 'stdout' is used twice (names are spool cursors: give each sink its own)");
    CHECK(parse_error("sinks:\n  - {type: file, name: ../x, path: /a}\n") ==
          "cfg.yaml:2:24: sinks[0]: sink name '../x' must be 1-64 letters, digits, '-', '_' or '.'");
    CHECK(parse_error("sinks:\n  - {type: syslog, transport: udp, host: h, port: 70000}\n") ==
          "cfg.yaml:2:51: sinks[0] (syslog): port '70000' must be 1..65535");
    CHECK(parse_error("sinks:\n  - {type: syslog, host: h, transport: quic}\n") ==
          "cfg.yaml:2:40: sinks[0] (syslog): transport 'quic' must be tls, tcp or udp");
    CHECK(parse_error("sinks:\n  - {type: file, path: /a, format: cef}\n") ==
          "cfg.yaml:2:36: sinks[0] (file): format 'cef' must be ecs or ocsf");
}

TEST_CASE("sinks config: several mistakes are all reported", "[sinks_config]") {
    const auto msg = parse_error("sinks:\n  - type: file\n  - type: hec\n    url: http://x\n    token_env: MW_UNSET_VAR_X\n");
    CHECK(msg ==
          "cfg.yaml:2:5: sinks[0] (file): `path` is required\n"
          "cfg.yaml:5:16: sinks[1] (hec): environment variable `MW_UNSET_VAR_X` (for `token`) is not set or empty");
}

TEST_CASE("sinks config: secrets only from files or the environment, never echoed", "[sinks_config]") {
    TestDir dir;
    SECTION("an inline token is refused without repeating it") {
        const auto msg = parse_error("sinks:\n  - {type: hec, url: 'http://x', token: s3cr3t-value}\n");
        CHECK(msg == "cfg.yaml:2:34: sinks[0] (hec): `token` may not be written in the config: use `token_file` "
                     "(a file holding it) or `token_env` (an environment variable name)\n"
                     "cfg.yaml:2:5: sinks[0] (hec): `token_file` or `token_env` is required");
        CHECK(msg.find("s3cr3t") == std::string::npos);
    }
    SECTION("a token is required") {
        CHECK(parse_error("sinks:\n  - {type: hec, url: 'http://x'}\n") ==
              "cfg.yaml:2:5: sinks[0] (hec): `token_file` or `token_env` is required");
    }
    SECTION("file and env together are ambiguous") {
        ::setenv("MW_TEST_TOKEN", "abc", 1);
        CHECK(parse_error("sinks:\n  - {type: hec, url: 'http://x', token_env: MW_TEST_TOKEN, token_file: /nope}\n") ==
              "cfg.yaml:2:45: sinks[0] (hec): set either `token_file` or `token_env`, not both");
    }
    SECTION("missing and empty secret files") {
        CHECK(parse_error("sinks:\n  - {type: hec, url: 'http://x', token_file: /nonexistent/t}\n") ==
              "cfg.yaml:2:46: sinks[0] (hec): cannot read token file /nonexistent/t: No such file or directory");
        write(dir.path / "empty", "\n\n");
        const auto p = (dir.path / "empty").string();
        CHECK(parse_error("sinks:\n  - {type: hec, url: 'http://x', token_file: " + p + "}\n") ==
              "cfg.yaml:2:46: sinks[0] (hec): token file " + p + " is empty");
    }
    SECTION("a secret read from the environment does not leak into other errors") {
        ::setenv("MW_TEST_TOKEN", "tok-987654", 1);
        const auto msg = parse_error("sinks:\n  - {type: hec, url: 'http://x', token_env: MW_TEST_TOKEN, gzip_level: 0}\n");
        CHECK(msg == "cfg.yaml:2:72: sinks[0] (hec): `gzip_level` must be 1..9");
        CHECK(msg.find("tok-987654") == std::string::npos);
    }
    SECTION("bulk: basic auth needs a password, API key and basic auth exclude each other") {
        ::setenv("MW_TEST_PW", "pw", 1);
        ::setenv("MW_TEST_KEY", "k", 1);
        CHECK(parse_error("sinks:\n  - {type: bulk, url: 'http://x', username: elastic}\n") ==
              "cfg.yaml:2:5: sinks[0] (bulk): `password_file` or `password_env` is required");
        CHECK(parse_error("sinks:\n  - {type: bulk, url: 'http://x', username: e, password_env: MW_TEST_PW, "
                          "api_key_env: MW_TEST_KEY}\n") ==
              "cfg.yaml:2:5: sinks[0] (bulk): set either an API key or username/password, not both");
        auto ok = parse("sinks:\n  - {type: bulk, url: 'http://x', username: e, password_env: MW_TEST_PW}\n");
        REQUIRE(ok.ok());
        CHECK(std::get<BulkOptions>(ok->sinks[0].options).password == "pw");
    }
}

TEST_CASE("sinks config: tls options", "[sinks_config]") {
    ::setenv("MW_TEST_TOKEN", "abc", 1);
    auto r = parse("sinks:\n  - {type: syslog, host: h, tls: {insecure_skip_verify: true, server_name: logs.example}}\n");
    REQUIRE(r.ok());
    const auto& o = std::get<SyslogOptions>(r->sinks[0].options);
    CHECK(o.port == "6514");
    CHECK_FALSE(o.tls.verify);
    CHECK(o.tls.server_name == "logs.example");
    CHECK(parse_error("sinks:\n  - {type: syslog, host: h, tls: {cert_file: /c.pem}}\n") ==
          "cfg.yaml:2:34: sinks[0] (syslog): `cert_file` and `key_file` go together (mutual TLS needs both)");
    CHECK(parse_error("sinks:\n  - {type: syslog, transport: udp, host: h, tls: {ca_file: /c}}\n") ==
          "cfg.yaml:2:50: sinks[0] (syslog): `tls` settings need `transport: tls`");
}

TEST_CASE("sinks config: durations", "[sinks_config]") {
    CHECK(parse_config_duration("250ms").value() == 250ms);
    CHECK(parse_config_duration("30s").value() == 30s);
    CHECK(parse_config_duration("5m").value() == 300s);
    CHECK(parse_config_duration("2h").value() == 7200s);
    CHECK_FALSE(parse_config_duration("10").ok());
    CHECK_FALSE(parse_config_duration("s").ok());
    CHECK_FALSE(parse_config_duration("-5s").ok());
    CHECK_FALSE(parse_config_duration("5 s").ok());
    CHECK_FALSE(parse_config_duration("99999999999999h").ok());
}

TEST_CASE("sinks config: format ocsf for hec, file and stdout only", "[sinks_config]") {
    ::setenv("MW_TEST_TOKEN", "abc", 1);
    auto r = parse("sinks:\n  - {type: hec, url: 'http://x', token_env: MW_TEST_TOKEN, format: ocsf}\n"
                   "  - {type: file, path: /a, format: ocsf}\n  - {type: stdout}\n");
    REQUIRE(r.ok());
    CHECK(std::get<HecOptions>(r->sinks[0].options).ocsf);
    CHECK(std::get<FileSinkOptions>(r->sinks[1].options).format == SinkFormat::Ocsf);
    CHECK(std::get<StdoutSinkOptions>(r->sinks[2].options).format == SinkFormat::Ecs);
    CHECK(parse_error("sinks:\n  - {type: syslog, host: h, format: ocsf}\n") ==
          "cfg.yaml:2:37: sinks[0] (syslog): format: ocsf is supported by hec, file and stdout sinks, not syslog");
}

// batch and retry are read the same way for every sink, timeout and tls for the network ones:
// one bad value, the same message under each sink's name (file and stdout have no timeout).
TEST_CASE("sinks config: a bad shared field is the same error on every sink that has it", "[sinks_config]") {
    ::setenv("MW_TEST_TOKEN", "abc", 1);
    // Each sink's required keys, two lines, so the bad line is always line 5.
    const std::vector<std::pair<std::string, std::string>> sinks{
        {"hec", "    url: http://x\n    token_env: MW_TEST_TOKEN\n"},
        {"bulk", "    url: http://x\n    api_key_env: MW_TEST_TOKEN\n"},
        {"syslog", "    host: h\n    transport: tls\n"},
        {"file", "    path: /a\n    keep: 1\n"},
        {"stdout", "    name: out\n    format: ecs\n"},
    };
    for (const auto& [type, required] : sinks) {
        const std::string head = "sinks:\n  - type: " + type + "\n" + required;
        const std::string name = type == "stdout" ? "out" : type;
        INFO("sink " << type);
        CHECK(parse_error(head + "    batch: {max_events: 0}\n") ==
              "cfg.yaml:5:25: sinks[0] (" + name + "): `max_events` must be at least 1");
        CHECK(parse_error(head + "    batch: {max_bytes: 10}\n") ==
              "cfg.yaml:5:24: sinks[0] (" + name + "): `max_bytes` must be at least 1024");
        CHECK(parse_error(head + "    retry: {initial: 0ms}\n") ==
              "cfg.yaml:5:12: sinks[0] (" + name + "): `initial` must be positive and not above `max`");
        CHECK(parse_error(head + "    retry: {initial: soon}\n") ==
              "cfg.yaml:5:22: sinks[0] (" + name + "): `initial`: 'soon' is not a duration (a number then ms, s, m "
                                                   "or h)");
        if (type == "file" || type == "stdout") {
            CHECK(parse_error(head + "    timeout: 5s\n") ==
                  "cfg.yaml:5:5: sinks[0] (" + name + "): unknown key `timeout` in `" + type + " sink`");
            continue;
        }
        CHECK(parse_error(head + "    timeout: 5\n") ==
              "cfg.yaml:5:14: sinks[0] (" + name + "): `timeout`: '5' needs a unit: ms, s, m or h");
        CHECK(parse_error(head + "    tls: {cert_file: /c}\n") ==
              "cfg.yaml:5:10: sinks[0] (" + name + "): `cert_file` and `key_file` go together (mutual TLS needs both)");
    }
}
