// Replaces every global operator new/delete with malloc/free plus a counter that runs only
// while a benchmark measures, so "allocations per event" counts the hot path alone.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace mw::bench {
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocs{0};
}  // namespace
std::atomic<bool>& counting() { return g_counting; }
std::uint64_t allocations() { return g_allocs.load(); }
}  // namespace mw::bench

namespace {
void* counted_alloc(std::size_t n, std::size_t align = 0) {
    if (mw::bench::g_counting.load(std::memory_order_relaxed))
        mw::bench::g_allocs.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    if (align > alignof(std::max_align_t)) return std::aligned_alloc(align, (n + align - 1) / align * align);
    return std::malloc(n);
}
}  // namespace

// GCC pairs the inlined malloc/free of these replacements with new/delete call sites and
// warns; both sides of every pair below are malloc/free, so the pairing is correct.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
    if (void* p = counted_alloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) {
    if (void* p = counted_alloc(n, static_cast<std::size_t>(a))) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
