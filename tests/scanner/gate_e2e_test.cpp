// e2e (root): the fanotify model gate in front of a real PyTorch loader. A watched process gets
// EPERM on a tampered checkpoint and its payload never runs; good checkpoints load with the
// right values; unwatched processes are never blocked; monitor mode allows and alerts.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <set>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "modelgate/model_gate.hpp"
#include "scanner/manifest.hpp"
#include "signed_model_dir.hpp"

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
        pub = (root / "trusted.pub").string();
        test::sign_model_dir(models, pub);
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

    RunningGate(const Fixture& f, modelgate::GateMode mode, std::atomic<pid_t>& watched)
        : RunningGate(f.models, f.pub, mode, [&watched](pid_t p) { return p == watched.load(); }, {}) {}

    RunningGate(const fs::path& models, const std::string& pub, modelgate::GateMode mode,
                std::function<bool(pid_t)> is_watched, std::function<void(const std::string&)> on_verify_start) {
        auto approver = scanner::ModelApprover::load({(models / "manifest.json").string(), "", {pub}});
        REQUIRE(approver.ok());
        modelgate::GateConfig cfg;
        cfg.model_dirs = {models.string()};
        cfg.mode = mode;
        cfg.is_watched = std::move(is_watched);
        cfg.on_verify_start = std::move(on_verify_start);
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
    ~RunningGate() { shutdown(); }
    // Stops the gate on its io thread and waits for the loop to end; stats stay readable.
    void shutdown() {
        if (!thread.joinable()) return;
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

namespace {

// A safetensors file whose single U8 tensor fills `bytes` of sparse zeros: a valid, clean model
// of any size that costs no disk space, so hashing it really takes as long as a real one.
void write_safetensors(const fs::path& p, std::uint64_t bytes) {
    auto header = "{\"w\":{\"dtype\":\"U8\",\"shape\":[" + std::to_string(bytes) + "],\"data_offsets\":[0," +
                  std::to_string(bytes) + "]}}";
    std::string head(8, '\0');
    for (int i = 0; i < 8; ++i) head[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << head << header;
    }
    fs::resize_file(p, 8 + header.size() + bytes);
}

// A signed model directory with a 1 GiB model, a small one and an unlisted file; no Python.
struct LargeModelFixture {
    fs::path root, models, big, small, unlisted;
    std::string pub;
    LargeModelFixture() {
        char tmpl[] = "/tmp/mw-gate-large-XXXXXX";
        root = ::mkdtemp(tmpl);
        models = root / "models";
        fs::create_directories(models);
        big = models / "big.safetensors";
        small = models / "small.safetensors";
        write_safetensors(big, std::uint64_t{1} << 30);
        write_safetensors(small, 4096);
        pub = (root / "trusted.pub").string();
        test::sign_model_dir(models, pub, scanner::KeyType::ed25519);
        unlisted = models / "extra.bin";
        std::ofstream(unlisted) << "not in the manifest";
    }
    ~LargeModelFixture() { fs::remove_all(root); }
};

// A child that opens `path` read-only once and reports 0 or the errno through a pipe. It is
// added to `watched` (when asked) before it is let go, so its open is always a watched one.
struct Opener {
    pid_t pid = -1;
    int result_fd = -1;

    Opener(const fs::path& path, std::mutex& mu, std::set<pid_t>& watched, bool watch) {
        int go[2], res[2];
        REQUIRE(pipe(go) == 0);
        REQUIRE(pipe(res) == 0);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            char c;
            close(go[1]);
            close(res[0]);
            if (read(go[0], &c, 1) != 1) _exit(97);
            int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            int err = fd >= 0 ? 0 : errno;
            _exit(write(res[1], &err, sizeof err) == sizeof err ? 0 : 96);
        }
        close(go[0]);
        close(res[1]);
        result_fd = res[0];
        if (watch) {
            std::lock_guard l(mu);
            watched.insert(pid);
        }
        REQUIRE(write(go[1], "g", 1) == 1);
        close(go[1]);
    }
    // Blocks until the child's open returned; the errno it saw (0 = opened).
    int result() {
        int err = -1;
        CHECK(read(result_fd, &err, sizeof err) == static_cast<ssize_t>(sizeof err));
        int status = 0;
        waitpid(pid, &status, 0);
        close(result_fd);
        return err;
    }
    bool still_waiting() const { return waitpid(pid, nullptr, WNOHANG) == 0; }
};

// Holds the verification of files whose name ends with `held` until released, and says when it began.
struct VerifyLatch {
    std::string held;
    std::promise<void> started, release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> fired{false};

    explicit VerifyLatch(std::string name) : held(std::move(name)) {}
    std::function<void(const std::string&)> hook() {
        return [this](const std::string& path) {
            if (!path.ends_with(held) || fired.exchange(true)) return;
            started.set_value();
            released.wait();
        };
    }
};

}  // namespace

TEST_CASE("a 1 GiB first-open verification does not hold up other opens, and a re-open is answered from the cache",
          "[e2e][gate]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: fanotify permission events need root");
        return;
    }
    LargeModelFixture f;
    std::mutex mu;
    std::set<pid_t> watched;
    VerifyLatch latch("big.safetensors");
    auto started = latch.started.get_future();
    RunningGate g(f.models, f.pub, modelgate::GateMode::enforce,
                  [&](pid_t p) { std::lock_guard l(mu); return watched.count(p) > 0; }, latch.hook());

    Opener big(f.big, mu, watched, true);
    REQUIRE(started.wait_for(std::chrono::seconds(120)) == std::future_status::ready);

    // While the big model is being verified: another watched process's opens are answered
    // (an approved small model, an unlisted file), and an unwatched process is not held either.
    Opener small(f.small, mu, watched, true);
    CHECK(small.result() == 0);
    Opener unlisted(f.unlisted, mu, watched, true);
    CHECK(unlisted.result() == EPERM);
    Opener other(f.big, mu, watched, false);
    CHECK(other.result() == 0);
    CHECK(big.still_waiting());

    latch.release.set_value();
    CHECK(big.result() == 0);
    CHECK(g.gate->stats().verifications.load() == 2);  // big and small, each once

    const auto at_once = g.gate->stats().answered_at_once.load();
    Opener again(f.big, mu, watched, true);
    CHECK(again.result() == 0);
    CHECK(g.gate->stats().verifications.load() == 2);
    CHECK(g.gate->stats().answered_at_once.load() == at_once + 1);

    g.shutdown();
    CHECK(g.gate->stats().answered_at_stop.load() == 0);
    auto alerts = g.open_alerts();
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].path == f.unlisted.string());
    CHECK(alerts[0].reason == "extra.bin is not listed in the manifest");
    CHECK(alerts[0].denied);
}

TEST_CASE("stopping the gate denies an open still being verified, exactly once", "[e2e][gate]") {
    if (geteuid() != 0) {
        WARN("e2e tier did not run: fanotify permission events need root");
        return;
    }
    LargeModelFixture f;
    std::mutex mu;
    std::set<pid_t> watched;
    VerifyLatch latch("big.safetensors");
    auto started = latch.started.get_future();
    RunningGate g(f.models, f.pub, modelgate::GateMode::enforce,
                  [&](pid_t p) { std::lock_guard l(mu); return watched.count(p) > 0; }, latch.hook());

    Opener big(f.big, mu, watched, true);
    REQUIRE(started.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
    // stop() answers on the io thread, then waits for the held verifier to finish.
    boost::asio::post(g.io, [&] { g.gate->stop(); });
    CHECK(big.result() == EPERM);
    latch.release.set_value();
    g.shutdown();
    CHECK(g.gate->stats().answered_at_stop.load() == 1);
    CHECK(g.gate->stats().answered.load() == 1);  // the verifier's late verdict answered nothing
    CHECK(g.gate->stats().verifications.load() == 1);
}
