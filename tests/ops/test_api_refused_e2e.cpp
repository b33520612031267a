// Refused control-API calls reach the SIEM as alerts: the real agent with the mutual-TLS API
// on loopback, a viewer certificate calling an operator endpoint gets 403 and the agent writes
// exactly one MW-API-001 alert naming the caller (source.ip, user.name = CN, url.path).
// Needs root (the agent loads its BPF programs).
#include <catch2/catch.hpp>

#include "agent_harness.hpp"
#include "tls_client.hpp"

using namespace mw::test;
using nlohmann::json;

namespace {

// The test PKI and an agent config with the mTLS API on a free loopback port.
struct ApiSetup {
    TempDir dir;
    std::string pki = dir.file("pki");
    std::uint16_t port = free_loopback_port();
    ApiSetup() {
        REQUIRE(make_test_pki(pki));
        // a policy for no process: the only alerts are the API's own
        write_file(dir.file("policy.yaml"), policy_yaml({.name = "api-refused", .tag = unique_tag("mw-api-refused")}));
        write_file(dir.file("agent.yaml"), "agent: {fail_mode: \"off\"}\n"
                                           "control:\n"
                                           "  tls:\n"
                                           "    address: 127.0.0.1\n"
                                           "    port: " + std::to_string(port) + "\n"
                                           "    cert: " + pki + "/server.crt\n"
                                           "    key: " + pki + "/server.key\n"
                                           "    client_ca: " + pki + "/ca.crt\n"
                                           "    crl: " + pki + "/ca.crl\n"
                                           "    trust_domain: test.local\n");
    }
};

}  // namespace

TEST_CASE("api refused: a viewer calling an operator endpoint gets 403 and exactly one MW-API-001 alert",
          "[e2e][control]") {
    ApiSetup api;
    const std::string& pki = api.pki;
    const std::uint16_t port = api.port;
    AgentProcess agent(api.dir, api.dir.file("policy.yaml"), {"--config", api.dir.file("agent.yaml")});

    // allowed for a viewer: no alert
    const auto status = tls_call(pki, port, "viewer", "GET", "/v1/status");
    INFO("status call: " << status.error);
    CHECK(status.status == 200);
    // an operator endpoint: refused
    const auto apply = tls_call(pki, port, "viewer", "POST", "/v1/policies/rollback");
    INFO("rollback call: " << apply.error);
    CHECK(apply.status == 403);
    CHECK(apply.body == R"({"error":"forbidden: role viewer may not POST /v1/policies/rollback"})");

    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("alerts:\n" << alerts_text(events));
    CHECK(count_alerts(events) == 1);
    const auto refused = alerts_with_rule(events, "MW-API-001");
    REQUIRE(refused.size() == 1);
    const auto& a = refused[0];
    CHECK(at_path(a, "event.category") == json::array({"configuration"}));
    CHECK(at_path(a, "event.type") == json::array({"change"}));
    CHECK(at_path(a, "event.action") == "api-call");
    CHECK(at_path(a, "event.outcome") == "failure");
    CHECK(at_path(a, "source.ip") == "127.0.0.1");
    CHECK(at_path(a, "user.name") == "alice");
    CHECK(at_path(a, "url.path") == "/v1/policies/rollback");
    CHECK(at_path(a, "rule.name") == "control API call refused: no valid certificate or insufficient role");
    CHECK(at_path(a, "rule.description") == "role viewer may not POST /v1/policies/rollback");
    CHECK(at_path(a, "threat.technique.id") == json::array({"T1078"}));
    CHECK(at_path(a, "modelwarden.enforcement.action") == "deny");
    CHECK(at_path(a, "modelwarden.enforcement.detail") == "request refused by the control API (403)");
    CHECK(at_path(a, "process").is_null());
}

TEST_CASE("api refused: a certificate without a role and a client without a certificate are one alert each",
          "[e2e][control]") {
    ApiSetup api;
    AgentProcess agent(api.dir, api.dir.file("policy.yaml"), {"--config", api.dir.file("agent.yaml")});
    const auto norole = tls_call(api.pki, api.port, "norole", "GET", "/v1/status");
    INFO("norole call: " << norole.error);
    CHECK(norole.status == 403);
    const auto anonymous = tls_call(api.pki, api.port, "", "GET", "/v1/status");
    CHECK(anonymous.status == 0);  // refused in the handshake: no HTTP answer at all
    const auto events = agent.stop();
    INFO("agent log:\n" << agent.log());
    INFO("alerts:\n" << alerts_text(events));

    CHECK(count_alerts(events) == 2);
    const auto refused = alerts_with_rule(events, "MW-API-001");
    REQUIRE(refused.size() == 2);
    // the certificate is valid but maps to no role: a status read, an identity question
    const auto& role = refused[0];
    CHECK(at_path(role, "event.category") == json::array({"iam"}));
    CHECK(at_path(role, "event.type") == json::array({"info"}));
    CHECK(at_path(role, "event.action") == "api-call");
    CHECK(at_path(role, "source.ip") == "127.0.0.1");
    CHECK(at_path(role, "user.name") == "mallory");
    CHECK(at_path(role, "url.path") == "/v1/status");
    CHECK(at_path(role, "rule.description") == "the caller has no modelwarden role");
    // no certificate: refused before any request, so no user and no path
    const auto& anon = refused[1];
    CHECK(at_path(anon, "event.category") == json::array({"iam"}));
    CHECK(at_path(anon, "event.action") == "api-connect");
    CHECK(at_path(anon, "source.ip") == "127.0.0.1");
    CHECK(at_path(anon, "user").is_null());
    CHECK(at_path(anon, "url").is_null());
    CHECK(at_path(anon, "modelwarden.enforcement.detail") == "connection refused by the control API (tls)");
}
