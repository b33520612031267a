// Validates one ring-buffer record and exposes its fixed part and strings without copying.
// Every length comes from the kernel side and is checked against the record size first:
// a bad record is reported and skipped, never trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/abi.hpp"

namespace mw {

enum class DecodeError : std::uint8_t {
    None,
    TooShort,         // smaller than the common header
    SizeMismatch,     // header.size disagrees with the bytes the ring buffer gave
    UnknownType,
    BodyTooShort,     // smaller than the fixed part of its type
    StringOverflow,   // a string length runs past the record
};

std::string_view to_string(DecodeError error);

struct DecodedRecord {
    const mw_event_header* header = nullptr;
    const std::byte* bytes = nullptr;   // start of the record (8-byte aligned by the ring buffer)
    std::size_t size = 0;
    // Strings in the order the ABI documents for the type, NUL stripped; empty if absent.
    std::string_view text[3];
    std::string_view args_blob;         // exec argv, NUL-separated, as stored

    std::uint16_t type() const { return header->type; }
    template <class T>
    const T& as() const { return *reinterpret_cast<const T*>(bytes); }
};

// Decodes `bytes` in place into `out`. `out` points into `bytes`; it is valid while they are.
DecodeError decode_record(std::span<const std::byte> bytes, DecodedRecord& out);

// Splits an argv blob ("a\0b\0c\0") calling fn(std::string_view) per argument.
template <class Fn>
void for_each_arg(std::string_view blob, Fn&& fn) {
    while (!blob.empty()) {
        auto end = blob.find('\0');
        if (end == std::string_view::npos) {
            fn(blob);
            return;
        }
        fn(blob.substr(0, end));
        blob.remove_prefix(end + 1);
    }
}

}  // namespace mw
