// libFuzzer target: the zip reader and the whole content walker (zip, npy, safetensors, GGUF,
// compression, pickles) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "scanner/scanner.hpp"
#include "scanner/zip_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> in(data, size);
    if (auto z = mw::scanner::read_zip(in)) {
        for (const auto& e : z->entries) {
            auto m = mw::scanner::extract_member(in, e, 1 << 20);
            if (m && m->bytes.size() > (1u << 20) && e.method == 8) __builtin_trap();
        }
    }
    mw::scanner::ScanOptions opts;
    opts.max_decompressed = 1 << 20;  // keep bombs cheap under the fuzzer
    (void)mw::scanner::scan_bytes(in, "fuzz", opts);
    return 0;
}
