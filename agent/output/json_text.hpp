// Allocation-free JSON text building into a reusable line buffer: escaping (hostile bytes
// become valid one-line JSON, invalid UTF-8 becomes U+FFFD), numbers and RFC 3339 dates.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace mw::json {

// A growable byte buffer that never shrinks: after the first few events it stops allocating.
// (std::string would do, but its per-character push_back is not inlined and zero-fills on resize.)
class JsonLine {
public:
    explicit JsonLine(std::size_t capacity = 16384) { reserve(capacity); }

    void clear() { size_ = 0; }
    std::string_view view() const { return {data_.get(), size_}; }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return cap_; }
    const char* data() const { return data_.get(); }

    // Room for n more bytes; returns where they go. The caller commits with advance().
    [[gnu::always_inline]] char* ensure(std::size_t n) {
        if (size_ + n > cap_) reserve(std::max(cap_ * 2, size_ + n));
        return data_.get() + size_;
    }
    void advance(std::size_t n) { size_ += n; }

    void put(char c) { *ensure(1) = c; ++size_; }
    void append(std::string_view s) {
        std::memcpy(ensure(s.size()), s.data(), s.size());
        size_ += s.size();
    }
    void pop_back() { if (size_) --size_; }

private:
    void reserve(std::size_t cap) {
        auto fresh = std::make_unique_for_overwrite<char[]>(cap);
        if (size_) std::memcpy(fresh.get(), data_.get(), size_);
        data_ = std::move(fresh);
        cap_ = cap;
    }

    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

// Appends s as a quoted JSON string. Control characters and NUL are escaped; every
// invalid UTF-8 sequence (maximal subpart, as Unicode recommends) becomes U+FFFD.
void append_string(JsonLine& out, std::string_view s);
// The same escaping without the surrounding quotes (for values built from several parts).
void append_escaped(JsonLine& out, std::string_view s);
void append_uint(JsonLine& out, std::uint64_t v);
void append_int(JsonLine& out, std::int64_t v);
// Quoted "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" for Unix-epoch nanoseconds.
void append_timestamp(JsonLine& out, std::uint64_t unix_ns);

// Comma bookkeeping for nested objects/arrays. Keys are trusted literals (not escaped).
// The keyed members are forced inline so each literal key becomes a fixed-size copy instead
// of a memcpy call (the encoder writes ~60 keys per event).
class Writer {
public:
    explicit Writer(JsonLine& out) : out_(out) {}

    void begin_object() { value_prefix(); out_.put('{'); push(); }
    [[gnu::always_inline]] void begin_object(std::string_view key) { key_prefix(key); out_.put('{'); push(); }
    void end_object() { out_.put('}'); pop(); }
    [[gnu::always_inline]] void begin_array(std::string_view key) { key_prefix(key); out_.put('['); push(); }
    void end_array() { out_.put(']'); pop(); }

    [[gnu::always_inline]] void string(std::string_view key, std::string_view v) { key_prefix(key); append_string(out_, v); }
    [[gnu::always_inline]] void uint(std::string_view key, std::uint64_t v) { key_prefix(key); append_uint(out_, v); }
    [[gnu::always_inline]] void int64(std::string_view key, std::int64_t v) { key_prefix(key); append_int(out_, v); }
    [[gnu::always_inline]] void boolean(std::string_view key, bool v) { key_prefix(key); out_.append(v ? "true" : "false"); }
    [[gnu::always_inline]] void timestamp(std::string_view key, std::uint64_t unix_ns) { key_prefix(key); append_timestamp(out_, unix_ns); }
    // Pre-rendered JSON (e.g. a cached fragment) as the value of key.
    [[gnu::always_inline]] void raw(std::string_view key, std::string_view json) { key_prefix(key); out_.append(json); }
    // Skips empty strings: absent is better than "" for ECS keyword fields.
    [[gnu::always_inline]] void string_if(std::string_view key, std::string_view v) { if (!v.empty()) string(key, v); }

    // Pre-rendered members ("a":1,"b":2) of the current object, or one pre-rendered element
    // of the current array. Empty = nothing.
    void splice(std::string_view json) {
        if (json.empty()) return;
        value_prefix();
        out_.append(json);
    }

    void element(std::string_view v) { value_prefix(); append_string(out_, v); }
    void element(std::uint64_t v) { value_prefix(); append_uint(out_, v); }

    JsonLine& out() { return out_; }

private:
    [[gnu::always_inline]] void value_prefix() {
        if (need_comma_[depth_]) out_.put(',');
        need_comma_[depth_] = true;
    }
    [[gnu::always_inline]] void key_prefix(std::string_view key) {
        value_prefix();
        char* p = out_.ensure(key.size() + 3);
        *p++ = '"';
        std::memcpy(p, key.data(), key.size());
        p += key.size();
        *p++ = '"';
        *p = ':';
        out_.advance(key.size() + 3);
    }
    void push() { if (depth_ + 1 < need_comma_.size()) need_comma_[++depth_] = false; }
    void pop() { if (depth_ > 0) --depth_; }

    JsonLine& out_;
    std::array<bool, 16> need_comma_{};
    std::size_t depth_ = 0;
};

}  // namespace mw::json
