// libFuzzer target: the static pickle VM must never crash, hang or over-allocate on any bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "scanner/global_policy.hpp"
#include "scanner/pickle_vm.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> in(data, size);
    auto a = mw::scanner::analyse_pickle(in);
    for (const auto& g : a.globals) (void)mw::scanner::classify_global(g.module, g.name);
    if (a.end > size) __builtin_trap();
    (void)mw::scanner::looks_like_pickle(in);
    return 0;
}
