// Control API tests: mutual TLS 1.3 with a test PKI made by make_test_pki.sh (roles, other CA,
// expired, revoked, no certificate, TLS 1.2), the Unix socket with peer credentials (root
// tier), routing/validation, bundle signatures, and sd_notify.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "audit/audit_log.hpp"
#include "control/bundle_signature.hpp"
#include "control/client.hpp"
#include "control/sd_notify.hpp"
#include "control/server.hpp"
#include "tls_client.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/mw-control-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

// Records every call; answers with fixed JSON. apply fails with 422 when the YAML says "broken".
class FakeHandler : public mw::ControlHandler {
public:
    std::mutex mu;
    std::vector<std::string> calls;
    std::string last_yaml, last_signature, last_identity;
    mw::EventsQuery last_query;

    mw::Result<std::string> status_json() override { return record("status", R"({"state":"running"})"); }
    mw::Result<std::string> events_json(const mw::EventsQuery& q) override {
        std::lock_guard l(mu);
        last_query = q;
        calls.push_back("events");
        return std::string(R"({"events":[]})");
    }
    mw::Result<std::string> list_policies() override { return record("list", R"({"generations":[1]})"); }
    mw::Result<std::string> apply_policy(std::string_view yaml, std::string_view sig, const mw::Caller& c) override {
        std::lock_guard l(mu);
        calls.push_back("apply");
        last_yaml = yaml;
        last_signature = sig;
        last_identity = c.identity;
        if (yaml.find("broken") != std::string_view::npos)
            return mw::make_error("policy invalid: rules[0].action: unknown action 'explode'", 422);
        return std::string(R"({"generation":2})");
    }
    mw::Result<std::string> rollback(const mw::Caller& c) override {
        std::lock_guard l(mu);
        last_identity = c.identity;
        calls.push_back("rollback");
        return std::string(R"({"generation":1})");
    }
    std::vector<std::string> snapshot() {
        std::lock_guard l(mu);
        return calls;
    }

private:
    mw::Result<std::string> record(const char* name, const char* body) {
        std::lock_guard l(mu);
        calls.push_back(name);
        return std::string(body);
    }
};

struct Refusals {
    std::mutex mu;
    std::vector<mw::RefusedCall> calls;
    void add(const mw::RefusedCall& c) {
        std::lock_guard l(mu);
        calls.push_back(c);
    }
    // The server reports a failed handshake after the client has already given up, so wait
    // for the report (bounded) rather than assume an order.
    std::vector<mw::RefusedCall> wait_for(size_t n) {
        for (int i = 0; i < 500; ++i) {
            {
                std::lock_guard l(mu);
                if (calls.size() >= n) return calls;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        std::lock_guard l(mu);
        return calls;
    }
};

using mw::test::TlsReply;
using mw::test::tls_call;

struct TlsFixture {
    TempDir dir;
    fs::path pki;
    FakeHandler handler;
    Refusals refusals;
    asio::io_context io;
    std::unique_ptr<mw::AuditLog> audit;
    std::unique_ptr<mw::ControlServer> server;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::thread loop;

    TlsFixture() {
        pki = dir.path / "pki";
        REQUIRE(mw::test::make_test_pki(pki.string()));
        mw::AuditOptions ao;
        ao.path = (dir.path / "audit.jsonl").string();
        ao.key_path = (dir.path / "audit.key").string();
        ao.checkpoint_every = 0;
        auto a = mw::AuditLog::open(ao);
        REQUIRE(a.ok());
        audit = std::move(a.value());
        mw::ControlOptions opt;
        mw::TlsListenerOptions tls;
        tls.port = 0;
        tls.cert_file = (pki / "server.crt").string();
        tls.key_file = (pki / "server.key").string();
        tls.ca_file = (pki / "ca.crt").string();
        tls.crl_file = (pki / "ca.crl").string();
        tls.roles.trust_domain = "test.local";
        opt.tls = tls;
        opt.audit = audit.get();
        opt.on_refused = [this](const mw::RefusedCall& c) { refusals.add(c); };
        opt.metrics_text = [] { return std::string("# TYPE x counter\nx 1\n"); };
        server = std::make_unique<mw::ControlServer>(io, handler, opt);
        auto started = server->start();
        INFO((started.ok() ? std::string() : started.error().message));
        REQUIRE(started.ok());
        guard.emplace(io.get_executor());
        loop = std::thread([this] { io.run(); });
    }
    ~TlsFixture() {
        server->stop();
        guard.reset();
        io.stop();
        loop.join();
    }
    TlsReply call(const std::string& client, const std::string& method, const std::string& target,
                  const std::string& body = {}, int max_version = TLS1_3_VERSION) {
        return tls_call(pki.string(), server->tls_port(), client, method, target, body, max_version);
    }
    std::vector<nlohmann::json> audit_records() {
        std::ifstream in(dir.path / "audit.jsonl");
        std::vector<nlohmann::json> out;
        for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
        return out;
    }
};

}  // namespace

TEST_CASE("control: viewer reads but cannot apply and operator applies and rolls back", "[control][tls]") {
    TlsFixture f;
    auto status = f.call("viewer", "GET", "/v1/status");
    INFO(status.error);
    REQUIRE(status.connected);
    CHECK(status.status == 200);
    CHECK(status.body == R"({"state":"running"})");
    CHECK(f.call("viewer", "GET", "/v1/metrics").body == "# TYPE x counter\nx 1\n");
    CHECK(f.call("viewer", "GET", "/v1/events?since=5&kind=exec&limit=7").status == 200);

    auto apply = f.call("viewer", "POST", "/v1/policies", "rules: []\n");
    REQUIRE(apply.connected);
    CHECK(apply.status == 403);
    CHECK(apply.body == R"({"error":"forbidden: role viewer may not POST /v1/policies"})");
    CHECK(f.call("viewer", "POST", "/v1/policies/rollback").status == 403);
    CHECK(f.call("viewer", "GET", "/v1/policies").status == 403);
    CHECK(f.handler.snapshot() == std::vector<std::string>{"status", "events"});
    CHECK(f.handler.last_query.since == std::optional<std::uint64_t>(5));
    CHECK(f.handler.last_query.kind == "exec");
    CHECK(f.handler.last_query.limit == 7);

    auto op = f.call("operator", "POST", "/v1/policies", "rules: []\n");
    REQUIRE(op.connected);
    CHECK(op.status == 200);
    CHECK(op.body == R"({"generation":2})");
    CHECK(f.handler.last_yaml == "rules: []\n");
    CHECK(f.handler.last_identity == "/CN=bob/OU=modelwarden-operator");  // openssl ca orders the DN by its policy
    auto broken = f.call("operator", "POST", "/v1/policies", "broken: yes\n");
    CHECK(broken.status == 422);
    CHECK(broken.body == R"({"error":"policy invalid: rules[0].action: unknown action 'explode'"})");
    auto rb = f.call("spiffe-operator", "POST", "/v1/policies/rollback");
    CHECK(rb.status == 200);
    CHECK(f.handler.last_identity == "spiffe://test.local/modelwarden/operator");
    CHECK(f.handler.snapshot() == std::vector<std::string>{"status", "events", "apply", "apply", "rollback"});

    auto refused = f.refusals.wait_for(3);
    REQUIRE(refused.size() == 3);
    CHECK(refused[0].identity == "spiffe://test.local/modelwarden/viewer");
    CHECK(refused[0].method == "POST");
    CHECK(refused[0].target == "/v1/policies");
    CHECK(refused[0].reason == "role viewer may not POST /v1/policies");

    // Every call and refusal is in the audit log, and the log verifies.
    auto records = f.audit_records();
    REQUIRE(records.size() == 9);  // 3 reads, 3 refusals, 2 applies, 1 rollback
    CHECK(records[3]["action"] == "api.refused");
    CHECK(records[3]["actor"] == "spiffe://test.local/modelwarden/viewer");
    CHECK(records[3]["object"] == "POST /v1/policies");
    CHECK(records[6]["action"] == "api.call");
    CHECK(records[6]["details"]["status"] == 200);
    CHECK(records[6]["details"]["role"] == "operator");
    CHECK(mw::verify_audit_log((f.dir.path / "audit.jsonl").string(), "").ok);
}

TEST_CASE("control: certificates without a role are refused", "[control][tls]") {
    TlsFixture f;
    for (const char* who : {"norole", "foreign"}) {
        auto r = f.call(who, "GET", "/v1/status");
        REQUIRE(r.connected);
        CHECK(r.status == 403);
        CHECK(r.body == R"({"error":"forbidden: the caller has no modelwarden role"})");
    }
    CHECK(f.handler.snapshot().empty());
    auto refused = f.refusals.wait_for(2);
    REQUIRE(refused.size() == 2);
    CHECK(refused[0].identity == "/CN=mallory");
    CHECK(refused[1].identity == "/CN=eve");
}

TEST_CASE("control: other-CA or expired or revoked or absent certificates and TLS 1.2 clients are refused", "[control][tls]") {
    TlsFixture f;
    struct Case {
        const char* client;
        int max_version;
        const char* reason;
    };
    const Case cases[] = {
        {"other", TLS1_3_VERSION, "client certificate rejected: unable to get local issuer certificate"},
        {"expired", TLS1_3_VERSION, "client certificate rejected: certificate has expired"},
        {"revoked", TLS1_3_VERSION, "client certificate rejected: certificate revoked"},
        {"", TLS1_3_VERSION, "peer did not return a certificate"},
        {"operator", TLS1_2_VERSION, "unsupported protocol"},
    };
    size_t n = 0;
    for (const auto& c : cases) {
        INFO("client '" << c.client << "' max version " << c.max_version);
        auto r = f.call(c.client, "POST", "/v1/policies", "rules: []\n", c.max_version);
        CHECK_FALSE(r.connected);
        CHECK(r.status == 0);
        auto refused = f.refusals.wait_for(++n);
        REQUIRE(refused.size() == n);
        CHECK(refused.back().transport == "tls");
        CHECK(refused.back().identity.empty());
        CHECK(refused.back().reason.find(c.reason) != std::string::npos);
        const auto& why = refused.back().reason;
        CHECK((why.rfind("client certificate rejected: ", 0) == 0 || why.rfind("tls handshake failed: ", 0) == 0));
    }
    CHECK(f.handler.snapshot().empty());
    // The refusals are audited too (handshake refusals have no identity yet).
    auto records = f.audit_records();
    REQUIRE(records.size() == 5);
    for (const auto& r : records) {
        CHECK(r["action"] == "api.refused");
        CHECK(r["actor"] == "unauthenticated");
    }
    // And a valid operator still gets through afterwards.
    CHECK(f.call("operator", "GET", "/v1/status").status == 200);
}

TEST_CASE("control: routing validates methods and paths and queries", "[control]") {
    FakeHandler h;
    mw::ControlOptions opt;
    mw::Caller op{mw::Role::Operator, "unix", "uid:0", "pid:1", {}};
    CHECK(mw::route_control_request(h, opt, op, "GET", "/v2/x", "", "").status == 404);
    CHECK(mw::route_control_request(h, opt, op, "DELETE", "/v1/policies", "", "").status == 405);
    CHECK(mw::route_control_request(h, opt, op, "GET", "/v1/metrics", "", "").status == 404);
    auto bad = mw::route_control_request(h, opt, op, "GET", "/v1/events?limit=0", "", "");
    CHECK(bad.status == 400);
    CHECK(bad.body == R"({"error":"limit must be an integer from 1 to 1000"})");
    CHECK(mw::route_control_request(h, opt, op, "GET", "/v1/events?kind=EXEC", "", "").status == 400);
    CHECK(mw::route_control_request(h, opt, op, "GET", "/v1/events?since=-1", "", "").status == 400);
    CHECK(mw::route_control_request(h, opt, op, "GET", "/v1/events?bogus=1", "", "").status == 400);
    CHECK(mw::route_control_request(h, opt, op, "GET", "/v1/events?kind=%zz", "", "").status == 400);
    CHECK(mw::route_control_request(h, opt, op, "POST", "/v1/policies", "", "").status == 400);
    CHECK(h.snapshot().empty());
    auto ok = mw::route_control_request(h, opt, op, "GET", "/v1/events?kind=file.open&since=10", "", "");
    CHECK(ok.status == 200);
    CHECK(h.last_query.kind == "file.open");
    CHECK(h.last_query.limit == 100);
    mw::Caller nobody{mw::Role::None, "unix", "uid:1000", "pid:2", {}};
    auto r = mw::route_control_request(h, opt, nobody, "GET", "/v2/x", "", "");
    CHECK(r.status == 403);  // no role: refused before revealing which paths exist
    CHECK(r.refused_reason == "the caller has no modelwarden role");
}

TEST_CASE("control: policy bundle signatures", "[control][signing]") {
    TempDir dir;
    auto key = mw::SigningKey::load_or_create((dir.path / "signer.key").string());
    REQUIRE(key.ok());
    fs::create_directory(dir.path / "trusted");
    std::ofstream(dir.path / "trusted" / "signer.pub") << key->public_pem();
    auto trusted = mw::load_trusted_keys((dir.path / "trusted").string());
    REQUIRE(trusted.ok());
    REQUIRE(trusted->size() == 1);
    std::string bundle = "rules:\n  - id: MW-1\n";
    auto sig = key->sign_base64(bundle);
    REQUIRE(sig.ok());
    auto ok = mw::verify_policy_signature(bundle, *sig, *trusted);
    REQUIRE(ok.ok());
    CHECK(ok.value() == key->key_id());
    auto tampered = mw::verify_policy_signature(bundle + "#", *sig, *trusted);
    REQUIRE_FALSE(tampered.ok());
    CHECK(tampered.error().code == 422);
    CHECK(tampered.error().message == "policy signature: no trusted key verifies the signature (1 keys tried)");
    CHECK(mw::verify_policy_signature(bundle, "", *trusted).error().message ==
          "policy signature: the bundle is not signed and signatures are required");
    CHECK(mw::verify_policy_signature(bundle, "@@@", *trusted).error().message ==
          "policy signature: the signature is not valid base64");
    std::ofstream(dir.path / "trusted" / "junk.pem") << "not a key";
    auto broken = mw::load_trusted_keys((dir.path / "trusted").string());
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.error().message.find("junk.pem") != std::string::npos);
}

TEST_CASE("control: sd_notify messages reach NOTIFY_SOCKET", "[control][systemd]") {
    TempDir dir;
    std::string path = (dir.path / "notify.sock").string();
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    auto recv_one = [&] {
        char buf[256] = {};
        ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
        return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
    };
    ::unsetenv("NOTIFY_SOCKET");
    auto off = mw::notify_ready();
    REQUIRE(off.ok());
    CHECK(off.value() == false);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    auto on = mw::notify_ready("enforcing generation 3");
    REQUIRE(on.ok());
    CHECK(on.value() == true);
    CHECK(recv_one() == "READY=1\nSTATUS=enforcing generation 3");
    REQUIRE(mw::notify_watchdog().ok());
    CHECK(recv_one() == "WATCHDOG=1");
    REQUIRE(mw::notify_stopping().ok());
    CHECK(recv_one() == "STOPPING=1");
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd);

    ::setenv("WATCHDOG_USEC", "20000000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    CHECK(mw::watchdog_interval() == std::optional<std::chrono::microseconds>(std::chrono::seconds(20)));
    ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
    CHECK_FALSE(mw::watchdog_interval().has_value());
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
}

// Root tier: the Unix socket maps uid 0 to operator; other uids are refused by mode and by
// SO_PEERCRED. Needs root to own the socket and to switch uid in a child.
TEST_CASE("control: unix socket CLI verbs work as root and non-root peers are refused", "[control][root]") {
    if (::geteuid() != 0) {
        WARN("control unix-socket tier not run: needs root");
        CHECK(::geteuid() != 0);
        return;
    }
    TempDir dir;
    ::chmod(dir.path.c_str(), 0755);
    std::string sock = (dir.path / "control.sock").string();
    FakeHandler handler;
    Refusals refusals;
    asio::io_context io;
    mw::ControlOptions opt;
    opt.unix_socket_path = sock;
    opt.on_refused = [&](const mw::RefusedCall& c) { refusals.add(c); };
    mw::ControlServer server(io, handler, opt);
    REQUIRE(server.start().ok());
    struct stat st {};
    REQUIRE(::stat(sock.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto guard = asio::make_work_guard(io);
    std::thread loop([&] { io.run(); });

    std::ostringstream out, err;
    CHECK(mw::run_control_client(sock, {"status"}, out, err) == 0);
    CHECK(out.str() == "{\n  \"state\": \"running\"\n}\n");
    auto policy = dir.path / "p.yaml";
    std::ofstream(policy) << "broken: yes\n";
    out.str(""), err.str("");
    CHECK(mw::run_control_client(sock, {"policy", "apply", policy.string()}, out, err) == 1);
    CHECK(err.str() == "error: 422 policy invalid: rules[0].action: unknown action 'explode'\n");
    std::ofstream(policy, std::ios::trunc) << "rules: []\n";
    std::ofstream(dir.path / "p.sig", std::ios::binary) << std::string("\x01\x02\xff", 3);
    out.str(""), err.str("");
    CHECK(mw::run_control_client(sock, {"policy", "apply", policy.string(), "--signature", (dir.path / "p.sig").string()},
                                 out, err) == 0);
    CHECK(handler.last_yaml == "rules: []\n");
    CHECK(handler.last_signature == "AQL/");
    CHECK(handler.last_identity == "uid:0");
    out.str(""), err.str("");
    CHECK(mw::run_control_client(sock, {"events", "--kind", "exec", "--limit", "3"}, out, err) == 0);
    CHECK(handler.last_query.kind == "exec");
    CHECK(handler.last_query.limit == 3);
    CHECK(mw::run_control_client(sock, {"policy", "rollback"}, out, err) == 0);
    CHECK(mw::run_control_client(sock, {"policy", "frobnicate"}, out, err) == 2);
    CHECK(mw::run_control_client((dir.path / "absent.sock").string(), {"status"}, out, err) == 3);

    // A non-root process: refused by the socket mode...
    auto as_nobody = [&](bool open_mode) {
        if (open_mode) ::chmod(sock.c_str(), 0666);
        pid_t pid = ::fork();
        if (pid == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(10);
            auto r = mw::control_request(sock, "GET", "/v1/status");
            if (!r) _exit(r.error().code == EACCES ? 20 : 21);
            _exit(r->status == 403 ? 30 : 31);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    };
    CHECK(as_nobody(false) == 20);
    // ...and, should the mode ever be loosened, by its peer credentials.
    CHECK(as_nobody(true) == 30);
    auto refused = refusals.wait_for(1);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].identity == "uid:65534");
    CHECK(refused[0].transport == "unix");
    CHECK(handler.snapshot() == std::vector<std::string>{"status", "apply", "apply", "events", "rollback"});

    server.stop();
    guard.reset();
    loop.join();
    CHECK_FALSE(fs::exists(sock));
}
