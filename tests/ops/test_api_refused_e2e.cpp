// Refused control-API calls reach the SIEM as alerts: the real agent with the mutual-TLS API
// on loopback, a viewer certificate calling an operator endpoint gets 403 and the agent writes
// exactly one MW-API-001 alert naming the caller (source.ip, user.name = CN, url.path).
// Needs root (the agent loads its BPF programs).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdlib>
#include <sstream>

#include "agent_harness.hpp"

using namespace mw::test;
using nlohmann::json;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

namespace {

struct Reply {
    unsigned status = 0;
    std::string body;
    std::string error;
};

Reply tls_call(const std::string& pki, std::uint16_t port, const std::string& client, const std::string& method,
               const std::string& target) {
    Reply out;
    asio::io_context io;
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(pki + "/ca.crt");
    ctx.set_verify_mode(ssl::verify_peer);
    if (!client.empty()) {  // "" = no client certificate at all
        ctx.use_certificate_file(pki + "/" + client + ".crt", ssl::context::pem);
        ctx.use_private_key_file(pki + "/" + client + ".key", ssl::context::pem);
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    beast::error_code ec;
    beast::get_lowest_layer(stream).connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return out.error = "connect: " + ec.message(), out;
    stream.handshake(ssl::stream_base::client, ec);
    if (ec) return out.error = "handshake: " + ec.message(), out;
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) return out.error = "write: " + ec.message(), out;
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res, ec);
    if (ec) return out.error = "read: " + ec.message(), out;
    out.status = res.result_int();
    out.body = res.body();
    return out;
}

// A loopback port free at the time of the call (the agent binds it right after).
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

const char* kPolicy = R"(apiVersion: modelwarden/v1
kind: WorkloadPolicy
metadata: {name: api-refused, owner: tests}
spec:
  mode: monitor
  selector:
    executable: ["/nonexistent/api-refused-only"]
)";

std::string dump_alerts(const std::vector<json>& all) {
    std::ostringstream out;
    for (const auto& e : all)
        if (at_path(e, "event.kind") == "alert") out << e.dump() << "\n";
    return out.str();
}

// The test PKI and an agent config with the mTLS API on a free loopback port.
struct ApiSetup {
    TempDir dir;
    std::string pki = dir.file("pki");
    std::uint16_t port = free_port();
    ApiSetup() {
        REQUIRE(std::system(("mkdir -p " + pki + " && bash " + std::string(MW_OPS_TEST_DIR) + "/make_test_pki.sh " +
                             pki + " >/dev/null").c_str()) == 0);
        write_file(dir.file("policy.yaml"), kPolicy);
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

std::size_t alert_count(const std::vector<json>& all) {
    std::size_t n = 0;
    for (const auto& e : all)
        if (at_path(e, "event.kind") == "alert") ++n;
    return n;
}

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
    INFO("alerts:\n" << dump_alerts(events));
    CHECK(alert_count(events) == 1);
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
    INFO("alerts:\n" << dump_alerts(events));

    CHECK(alert_count(events) == 2);
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
