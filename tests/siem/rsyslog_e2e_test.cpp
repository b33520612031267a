// End to end against a REAL rsyslog (Debian's rsyslogd with the ossl driver) started by the test
// on 127.0.0.1 as a mutual-TLS RFC 5425 receiver with a throw-away CA: private config, pid file,
// work dir and port; the system rsyslog is never touched.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "agent_harness.hpp"
#include "receivers.hpp"
#include "sinks/syslog_sink.hpp"
#include "spool/spool.hpp"
#include "test_dir.hpp"

using namespace mw;
using mw::test::free_loopback_port;
using namespace std::chrono_literals;

namespace {

bool port_open(unsigned short port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

struct Rsyslog {
    pid_t pid = -1;
    unsigned short port = 0;
    std::string out;
    bool start(const std::string& dir, const siemtest::TestPki& pki) {
        port = free_loopback_port();
        out = dir + "/received.log";
        std::filesystem::create_directories(dir + "/work");
        std::ofstream(dir + "/rsyslog.conf") << fmt::format(R"(
global(workDirectory="{0}/work"
       DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="{1}"
       DefaultNetstreamDriverCertFile="{2}"
       DefaultNetstreamDriverKeyFile="{3}")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")
input(type="imtcp" port="{4}" address="127.0.0.1")
template(name="mwraw" type="string" string="%msgid%|%structured-data%|%msg%\n")
action(type="omfile" file="{5}" template="mwraw")
)",
                                                            dir, pki.ca, pki.server_cert, pki.server_key, port, out);
        pid = ::fork();
        if (pid == 0) {
            ::execl("/usr/sbin/rsyslogd", "rsyslogd", "-n", "-f", (dir + "/rsyslog.conf").c_str(), "-i",
                    (dir + "/rsyslog.pid").c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 200; ++i) {
            if (port_open(port)) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    std::vector<std::string> lines() const {
        std::vector<std::string> v;
        std::ifstream in(out);
        for (std::string l; std::getline(in, l);) v.push_back(l);
        return v;
    }
    ~Rsyslog() {
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

template <class F>
bool run_until(boost::asio::io_context& io, F done) {
    auto end = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        io.restart();
        io.run_for(20ms);
    }
    return true;
}

std::string ecs(int i) {
    return fmt::format(R"({{"@timestamp":"2026-11-22T00:00:00Z","event":{{"id":"ev-{}"}},"message":"quote \" and é {}"}})",
                       i, i);
}

}  // namespace

TEST_CASE("rsyslog: mutual-TLS RFC 5425 delivery arrives intact - a client without a certificate is refused",
          "[syslog][e2e]") {
    TestDir d;
    siemtest::TestPki pki;
    REQUIRE(pki.make(d.path.string()));
    Rsyslog rs;
    REQUIRE(rs.start(d.path.string(), pki));
    auto spool = Spool::open(d.path / "spool");
    REQUIRE(spool);
    std::set<std::string> want;
    for (int i = 0; i < 25; ++i) {
        auto kind = i % 5 == 0 ? EventKind::Alert : EventKind::Event;
        REQUIRE((*spool)->append(kind, fmt::format("ev-{}", i), 1'700'000'000'000'000'000ull, ecs(i)));
    }
    boost::asio::io_context io;
    SyslogOptions o;
    o.host = "127.0.0.1";
    o.port = std::to_string(rs.port);
    o.tls.ca_file = pki.ca;
    o.retry.initial = 20ms;
    o.retry.max = 100ms;
    o.batch.idle_poll = 10ms;

    SECTION("client without a certificate") {
        o.name = "nocert";
        auto sink = SyslogSink::create(io, **spool, o);
        REQUIRE(sink);
        (*sink)->start();
        REQUIRE(run_until(io, [&] { return (*sink)->stats().errors_tls >= 2; }));
        (*sink)->stop();
        CHECK((*spool)->acked("nocert") == 0);
        std::this_thread::sleep_for(300ms);
        CHECK(rs.lines().empty());
    }
    SECTION("client with a certificate from the test CA") {
        o.name = "rsyslog";
        o.tls.cert_file = pki.client_cert;
        o.tls.key_file = pki.client_key;
        auto sink = SyslogSink::create(io, **spool, o);
        REQUIRE(sink);
        (*sink)->start();
        REQUIRE(run_until(io, [&] { return (*spool)->acked("rsyslog") == 25; }));
        std::vector<std::string> lines;
        for (int i = 0; i < 200 && (lines = rs.lines()).size() < 25; ++i) std::this_thread::sleep_for(50ms);
        REQUIRE(lines.size() == 25);
        for (int i = 0; i < 25; ++i) {
            INFO(lines[i]);
            auto expect = fmt::format(R"({}|[modelwarden@32473 id="ev-{}" seq="{}"]|{})",
                                      i % 5 == 0 ? "alert" : "event", i, i + 1, ecs(i));
            CHECK(lines[i] == expect);
        }
        CHECK((*sink)->stats().errors_tls == 0);
    }
}
