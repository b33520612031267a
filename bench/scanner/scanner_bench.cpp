// Scanner benchmarks on a generated 1 GiB PyTorch checkpoint: scan+hash throughput, the
// agent-side latency of a first (uncached) approved open, and of a cached re-open.
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "modelgate/model_gate.hpp"
#include "scanner/manifest.hpp"
#include "scanner/scanner.hpp"
#include "scanner/signing.hpp"

namespace fs = std::filesystem;
using namespace mw;

namespace {

// MW_BENCH_DIR (default /tmp/mw-scanner-bench) holds a signed model directory with one
// 1 GiB torch.save checkpoint; it is created once by Debian's python3-torch.
struct Setup {
    fs::path dir;
    fs::path model;
    std::shared_ptr<scanner::ModelApprover> approver;

    Setup() {
        const char* env = std::getenv("MW_BENCH_DIR");
        dir = env ? env : "/tmp/mw-scanner-bench";
        model = dir / "model.pt";
        fs::create_directories(dir);
        if (!fs::exists(model)) {
            auto cmd = "/usr/bin/python3 -c \"import sys,torch; torch.save({'w': torch.rand(256*1024*1024)}, sys.argv[1])\" " + model.string();
            if (std::system(cmd.c_str()) != 0) std::abort();
        }
        std::ofstream(dir / "MODEL_CARD.md") << "---\nowner: bench\nintended_use: bench\ntraining_data: random\n"
                                               "known_failure_modes: none\nlast_evaluation_date: 2026-11-01\nfailure_response: none\n---\n";
        auto m = scanner::create_manifest(dir, "MODEL_CARD.md", {"manifest.json", "manifest.json.sig", "trusted.pub"});
        if (!m) std::abort();
        auto text = scanner::serialize_manifest(*m);
        std::ofstream(dir / "manifest.json", std::ios::binary | std::ios::trunc) << text;
        auto key = scanner::generate_key(scanner::KeyType::ed25519);
        auto sig = scanner::sign(*key, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
        std::ofstream(dir / "manifest.json.sig", std::ios::trunc) << scanner::base64_encode(*sig);
        fs::remove(dir / "trusted.pub");
        if (!scanner::write_public_pem(*key, (dir / "trusted.pub").string())) std::abort();
        auto a = scanner::ModelApprover::load({(dir / "manifest.json").string(), "", {(dir / "trusted.pub").string()}});
        if (!a) std::abort();
        approver = std::make_shared<scanner::ModelApprover>(std::move(a.value()));
    }
};

Setup& setup() {
    static Setup s;
    return s;
}

void BM_ScanAndHash1GiB(benchmark::State& state) {
    auto& s = setup();
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        auto r = scanner::scan_and_hash_file(s.model.string());
        if (!r || r->report.verdict() != scanner::Verdict::clean) state.SkipWithError("scan failed or not clean");
        bytes += r->size;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_ScanAndHash1GiB)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();
// Same, with the CPU column summing both threads (reader+scan and hasher): the work per byte,
// which on an idle host sets the wall time once divided over the two threads.
BENCHMARK(BM_ScanAndHash1GiB)->Name("BM_ScanAndHash1GiB_ProcessCPU")->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime()->MeasureProcessCPUTime();

// Reference: SHA-256 alone over 1 GiB already in memory (the floor for scan+hash).
void BM_Sha256Only1GiB(benchmark::State& state) {
    std::vector<std::uint8_t> buf(std::size_t{1} << 30, 0x5a);
    for (auto _ : state) benchmark::DoNotOptimize(scanner::sha256(buf));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(buf.size()));
}
BENCHMARK(BM_Sha256Only1GiB)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_FirstOpenApproved1GiB(benchmark::State& state) {
    auto& s = setup();
    int fd = ::open(s.model.c_str(), O_RDONLY);
    for (auto _ : state) {
        modelgate::OpenDecider decider(s.approver, modelgate::GateMode::enforce);  // cold cache
        if (!decider.decide(1, fd, s.model.string(), nullptr)) state.SkipWithError("approved model was denied");
    }
    ::close(fd);
}
BENCHMARK(BM_FirstOpenApproved1GiB)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_CachedReopen(benchmark::State& state) {
    auto& s = setup();
    int fd = ::open(s.model.c_str(), O_RDONLY);
    modelgate::OpenDecider decider(s.approver, modelgate::GateMode::enforce);
    if (!decider.decide(1, fd, s.model.string(), nullptr)) state.SkipWithError("approved model was denied");
    for (auto _ : state) {
        bool ok = decider.decide(1, fd, s.model.string(), nullptr);
        benchmark::DoNotOptimize(ok);
    }
    ::close(fd);
}
BENCHMARK(BM_CachedReopen)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
