// e2e (root): the fanotify model gate in front of a real PyTorch loader. A watched process gets
// EPERM on a tampered checkpoint and its payload never runs; good checkpoints load with the
// right values; unwatched processes are never blocked; monitor mode allows and alerts.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "modelgate/model_gate.hpp"
#include "scanner/manifest.hpp"
#include "scanner/signing.hpp"

namespace fs = std::filesystem;
using namespace mw;

namespace {

const char* loader =
    "import sys, torch\n"
    "try:\n"
    "    sd = torch.load(sys.argv[1])\n"
    "    print('LOADED', ' '.join(str(float(x)) for x in sd['w']))\n"
    "except PermissionError:\n"
    "    print('EPERM')\n"
    "    sys.exit(3)\n";

struct Child {
    int status = -1;
    std::string out;
};

// fork, publish the pid, then let the child exec: it is watched before its first open.
Child run_loader(const std::string& file, std::atomic<pid_t>& watched, bool watch) {
    int go[2], out[2];
    REQUIRE(pipe(go) == 0);
    REQUIRE(pipe(out) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(97);
        dup2(out[1], 1);
        execl("/usr/bin/python3", "python3", "-c", loader, file.c_str(), static_cast<char*>(nullptr));
        _exit(98);
    }
    close(go[0]);
    close(out[1]);
    if (watch) watched = pid;
    REQUIRE(write(go[1], "g", 1) == 1);
    close(go[1]);
    Child c;
    char buf[512];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) c.out.append(buf, static_cast<std::size_t>(n));
    close(out[0]);
    waitpid(pid, &c.status, 0);
    watched = 0;
    return c;
}

int exit_code(const Child& c) { return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1; }

struct Fixture {
    fs::path root, models, marker;
    std::string pub;
    Fixture() {
        char tmpl[] = "/tmp/mw-gate-e2e-XXXXXX";
        root = ::mkdtemp(tmpl);
        models = root / "models";
        marker = root / "payload.ran";
        fs::create_directories(models);
        auto py = [&](const std::string& code) {
            auto cmd = "/usr/bin/python3 -c \"" + code + "\" " + models.string() + " " + marker.string() + " 2>/dev/null";
            REQUIRE(std::system(cmd.c_str()) == 0);
        };
        py("import sys,torch; torch.save({'w': torch.arange(4.0)}, sys.argv[1]+'/good.pt'); "
           "torch.save({'w': torch.zeros(4)}, sys.argv[1]+'/tampered.pt')");
        std::ofstream(models / "MODEL_CARD.md") << "---\nowner: e2e\nintended_use: test\ntraining_data: none\n"
                                                  "known_failure_modes: none\nlast_evaluation_date: 2026-11-01\n"
                                                  "failure_response: roll back\n---\n";
        auto m = scanner::create_manifest(models, "MODEL_CARD.md");
        REQUIRE(m.ok());
        auto text = scanner::serialize_manifest(*m);
        std::ofstream(models / "manifest.json", std::ios::binary) << text;
        auto key = scanner::generate_key(scanner::KeyType::ecdsa_p256);
        REQUIRE(key.ok());
        auto sig = scanner::sign(*key, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
        REQUIRE(sig.ok());
        std::ofstream(models / "manifest.json.sig") << scanner::base64_encode(*sig);
        pub = (root / "trusted.pub").string();
        REQUIRE(scanner::write_public_pem(*key, pub).ok());
        // After signing: replace a listed checkpoint with one whose pickle runs a payload.
        py("import os,sys,torch\n"
           "class P:\n"
           "    def __reduce__(self): return (os.system, ('touch ' + sys.argv[2],))\n"
           "torch.save({'w': torch.zeros(4), 'x': P()}, sys.argv[1]+'/tampered.pt')");
    }
    ~Fixture() { fs::remove_all(root); }
};

struct RunningGate {
    boost::asio::io_context io;
    std::unique_ptr<modelgate::ModelGate> gate;
    std::thread thread;
    std::mutex mu;
    std::vector<modelgate::GateAlert> alerts;

    RunningGate(const Fixture& f, modelgate::GateMode mode, std::atomic<pid_t>& watched) {
        auto approver = scanner::ModelApprover::load({(f.models / "manifest.json").string(), "", {f.pub}});
        REQUIRE(approver.ok());
        modelgate::GateConfig cfg;
        cfg.model_dirs = {f.models.string()};
        cfg.mode = mode;
        cfg.is_watched = [&watched](pid_t p) { return p == watched.load(); };
        cfg.on_alert = [this](const modelgate::GateAlert& a) {
            std::lock_guard l(mu);
            alerts.push_back(a);
        };
        auto g = modelgate::ModelGate::create(io, std::move(cfg), std::make_shared<scanner::ModelApprover>(std::move(approver.value())));
        REQUIRE(g.ok());
        gate = std::move(g.value());
        gate->start();
        thread = std::thread([this] { io.run(); });
    }
    ~RunningGate() {
        boost::asio::post(io, [this] { gate->stop(); });
        thread.join();
    }
    std::vector<modelgate::GateAlert> open_alerts() {
        std::lock_guard l(mu);
        std::vector<modelgate::GateAlert> out;
        for (const auto& a : alerts)
            if (!a.tamper) out.push_back(a);
        return out;
    }
};

}  // namespace

TEST_CASE("enforce mode: tampered checkpoint gets EPERM, good one loads, unwatched never blocked", "[e2e][gate]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: fanotify permission events need root");
        return;
    }
    Fixture f;
    std::atomic<pid_t> watched{0};
    RunningGate g(f, modelgate::GateMode::enforce, watched);

    auto bad = run_loader((f.models / "tampered.pt").string(), watched, true);
    CHECK(exit_code(bad) == 3);
    CHECK(bad.out == "EPERM\n");
    CHECK_FALSE(fs::exists(f.marker));
    auto alerts = g.open_alerts();
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].denied);
    CHECK(alerts[0].path == (f.models / "tampered.pt").string());
    CHECK(alerts[0].reason.find("tampered.pt is ") != std::string::npos);

    auto good = run_loader((f.models / "good.pt").string(), watched, true);
    CHECK(exit_code(good) == 0);
    CHECK(good.out == "LOADED 0.0 1.0 2.0 3.0\n");
    auto again = run_loader((f.models / "good.pt").string(), watched, true);
    CHECK(again.out == "LOADED 0.0 1.0 2.0 3.0\n");
    CHECK(g.open_alerts().size() == 1);

    // Not watched: the gate answers allow without looking (the payload runs: proof it was not blocked).
    auto other = run_loader((f.models / "tampered.pt").string(), watched, false);
    CHECK(exit_code(other) == 0);
    CHECK(other.out == "LOADED 0.0 0.0 0.0 0.0\n");
    CHECK(fs::exists(f.marker));
    CHECK(g.open_alerts().size() == 1);
}

TEST_CASE("monitor mode: a failing checkpoint is allowed and alerted, writes are tamper alerts", "[e2e][gate]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: fanotify permission events need root");
        return;
    }
    Fixture f;
    std::atomic<pid_t> watched{0};
    RunningGate g(f, modelgate::GateMode::monitor, watched);
    auto bad = run_loader((f.models / "tampered.pt").string(), watched, true);
    CHECK(exit_code(bad) == 0);
    CHECK(bad.out == "LOADED 0.0 0.0 0.0 0.0\n");
    auto alerts = g.open_alerts();
    REQUIRE(alerts.size() == 1);
    CHECK_FALSE(alerts[0].denied);
    CHECK(alerts[0].reason.find("tampered.pt is ") != std::string::npos);

    // Any write to a file under a model directory is a tampering alert.
    std::ofstream(f.models / "good.pt", std::ios::app) << "x";
    bool tamper = false;
    for (int i = 0; i < 100 && !tamper; ++i) {
        {
            std::lock_guard l(g.mu);
            for (const auto& a : g.alerts) tamper = tamper || (a.tamper && a.path == (f.models / "good.pt").string());
        }
        if (!tamper) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(tamper);
}
