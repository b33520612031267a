// Builds kernel records byte for byte as the BPF side lays them out, for decoder and
// pipeline tests (8-byte aligned storage, as the ring buffer guarantees).
#pragma once

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/abi.hpp"

namespace mw::test {

class RecordBuilder {
public:
    template <class T>
    T& start(std::uint16_t type) {
        storage_.assign((sizeof(T) + 7) / 8 + 1, 0);
        size_ = sizeof(T);
        auto& rec = *reinterpret_cast<T*>(storage_.data());
        rec.hdr.type = type;
        return rec;
    }
    template <class T>
    T& body() { return *reinterpret_cast<T*>(storage_.data()); }

    // Appends a string as the kernel does (with its NUL); returns the stored length.
    std::uint16_t add_string(std::string_view s) { return append(s, true); }
    // Appends argv as NUL-separated strings.
    std::uint16_t add_args(std::initializer_list<std::string_view> args) {
        std::uint16_t total = 0;
        for (auto a : args) total = static_cast<std::uint16_t>(total + append(a, true));
        return total;
    }

    std::span<const std::byte> finish() {
        auto* hdr = reinterpret_cast<mw_event_header*>(storage_.data());
        hdr->size = static_cast<std::uint16_t>(size_);
        return {reinterpret_cast<const std::byte*>(storage_.data()), size_};
    }

private:
    std::uint16_t append(std::string_view s, bool nul) {
        const std::size_t n = s.size() + (nul ? 1 : 0);
        const std::size_t need = (size_ + n + 7) / 8 + 1;
        if (storage_.size() < need) storage_.resize(need, 0);
        auto* base = reinterpret_cast<char*>(storage_.data());
        std::memcpy(base + size_, s.data(), s.size());
        if (nul) base[size_ + s.size()] = '\0';
        size_ += n;
        return static_cast<std::uint16_t>(n);
    }

    std::vector<std::uint64_t> storage_;
    std::size_t size_ = 0;
};

}  // namespace mw::test
