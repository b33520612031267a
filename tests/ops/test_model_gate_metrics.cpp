// Model gate counters in Prometheus metrics (issue 4), exact counts: a real fanotify gate
// (root) on a signed model directory, a watched child opening an approved file twice (one
// verification, one cache hit) and a file changed after signing (verified, not approved,
// denied). Scraped through the metrics registry as the agent does.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "metrics/model_gate_metrics.hpp"
#include "metrics/registry.hpp"
#include "modelgate/model_gate.hpp"
#include "scanner/manifest.hpp"
#include "signed_model_dir.hpp"

namespace fs = std::filesystem;
using namespace mw;

namespace {

struct SignedModels {
    fs::path root, models;
    std::string pub;
    SignedModels() {
        char tmpl[] = "/tmp/mw-gate-metrics-XXXXXX";
        root = ::mkdtemp(tmpl);
        models = root / "models";
        fs::create_directories(models);
        // Plain pickles (protocol 2, no globals): clean for the scanner.
        const std::string cmd = "/usr/bin/python3 -c \"import pickle,sys; "
                                "pickle.dump({'w': [1, 2, 3]}, open(sys.argv[1] + '/good.pkl', 'wb'), protocol=2); "
                                "pickle.dump({'w': [4, 5, 6]}, open(sys.argv[1] + '/changed.pkl', 'wb'), protocol=2)\" " +
                                models.string();
        REQUIRE(std::system(cmd.c_str()) == 0);
        pub = (root / "trusted.pub").string();
        test::sign_model_dir(models, pub);
        // After signing: the listed file's bytes change, so its sha256 no longer matches.
        std::ofstream(models / "changed.pkl", std::ios::binary | std::ios::app) << "X";
    }
    ~SignedModels() { fs::remove_all(root); }
};

// A child that opens each path in turn and exits with a bit per open that failed with EPERM.
int open_in_child(const std::vector<std::string>& paths, std::atomic<pid_t>& watched) {
    int go[2];
    REQUIRE(::pipe(go) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        ::close(go[1]);
        if (::read(go[0], &c, 1) != 1) ::_exit(100);
        int code = 0;
        for (std::size_t i = 0; i < paths.size(); ++i) {
            const int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) code |= errno == EPERM ? (1 << i) : 64;
            else ::close(fd);
        }
        ::_exit(code);
    }
    ::close(go[0]);
    watched = pid;  // watched before its first open
    REQUIRE(::write(go[1], "g", 1) == 1);
    ::close(go[1]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    watched = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string series(const std::string& text, const std::string& prefix) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix + " ", 0) == 0) return line.substr(prefix.size() + 1);
    return "<absent: " + prefix + ">";
}

}  // namespace

TEST_CASE("model gate metrics: verified, approved, denied, cache hits, pending and latency count per gate",
          "[e2e][modelgate][metrics]") {
    if (::geteuid() != 0) {
        WARN("e2e tier did not run: fanotify permission events need root");
        return;
    }
    SignedModels f;
    std::atomic<pid_t> watched{0};
    boost::asio::io_context io;
    auto approver = scanner::ModelApprover::load({(f.models / "manifest.json").string(), "", {f.pub}});
    REQUIRE(approver.ok());
    modelgate::GateConfig cfg;
    cfg.workload = "gated";
    cfg.model_dirs = {f.models.string()};
    cfg.mode = modelgate::GateMode::enforce;
    cfg.is_watched = [&watched](pid_t p) { return p == watched.load(); };
    auto gate = modelgate::ModelGate::create(io, std::move(cfg),
                                             std::make_shared<scanner::ModelApprover>(std::move(approver.value())));
    REQUIRE(gate.ok());
    (*gate)->start();
    std::thread loop([&io] { io.run(); });

    const std::string good = (f.models / "good.pkl").string();
    const std::string changed = (f.models / "changed.pkl").string();
    // good (verified, approved), good again (cache hit, approved), changed (verified, denied)
    const int code = open_in_child({good, good, changed}, watched);

    boost::asio::post(io, [&] { (*gate)->stop(); });
    loop.join();
    CHECK(code == 0b100);

    modelgate::GateStats idle;  // a second workload's gate that saw nothing
    const std::vector<GateSeries> gates{{"gated", &(*gate)->stats()}, {"idle", &idle}};
    MetricsRegistry registry;
    registry.add_collector([&gates](MetricsWriter& w) { write_model_gate_metrics(w, gates); });
    const std::string text = registry.expose();
    INFO(text);

    CHECK(series(text, R"(modelwarden_model_gate_verifications_total{workload="gated"})") == "2");
    CHECK(series(text, R"(modelwarden_model_gate_opens_total{workload="gated",verdict="approved"})") == "2");
    CHECK(series(text, R"(modelwarden_model_gate_opens_total{workload="gated",verdict="not_approved"})") == "1");
    CHECK(series(text, R"(modelwarden_model_gate_denied_total{workload="gated"})") == "1");
    CHECK(series(text, R"(modelwarden_model_gate_cache_hits_total{workload="gated"})") == "1");
    CHECK(series(text, R"(modelwarden_model_gate_pending{workload="gated"})") == "0");
    CHECK(series(text, R"(modelwarden_model_gate_queue_full_total{workload="gated"})") == "0");
    CHECK(series(text, R"(modelwarden_model_gate_verification_seconds_count{workload="gated"})") == "2");
    CHECK(series(text, R"(modelwarden_model_gate_verification_seconds_bucket{workload="gated",le="+Inf"})") == "2");

    CHECK(series(text, R"(modelwarden_model_gate_verifications_total{workload="idle"})") == "0");
    CHECK(series(text, R"(modelwarden_model_gate_opens_total{workload="idle",verdict="approved"})") == "0");
    CHECK(series(text, R"(modelwarden_model_gate_verification_seconds_count{workload="idle"})") == "0");
}

TEST_CASE("model gate metrics: no gates, no families", "[modelgate][metrics]") {
    MetricsRegistry registry;
    registry.add_collector([](MetricsWriter& w) { write_model_gate_metrics(w, {}); });
    CHECK(registry.expose().find("modelwarden_model_gate") == std::string::npos);
}
