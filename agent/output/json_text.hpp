// Allocation-free JSON text building into a caller-owned std::string: escaping (hostile bytes
// become valid one-line JSON, invalid UTF-8 becomes U+FFFD), numbers and RFC 3339 dates.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mw::json {

// Appends s as a quoted JSON string. Control characters and NUL are escaped; every
// invalid UTF-8 sequence (maximal subpart, as Unicode recommends) becomes U+FFFD.
void append_string(std::string& out, std::string_view s);
// The same escaping without the surrounding quotes (for values built from several parts).
void append_escaped(std::string& out, std::string_view s);
void append_uint(std::string& out, std::uint64_t v);
void append_int(std::string& out, std::int64_t v);
// Quoted "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" for Unix-epoch nanoseconds.
void append_timestamp(std::string& out, std::uint64_t unix_ns);

// Comma bookkeeping for nested objects/arrays. Keys are trusted literals (not escaped).
class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}

    void begin_object() { value_prefix(); out_.push_back('{'); push(); }
    void begin_object(std::string_view key) { key_prefix(key); out_.push_back('{'); push(); }
    void end_object() { out_.push_back('}'); pop(); }
    void begin_array(std::string_view key) { key_prefix(key); out_.push_back('['); push(); }
    void end_array() { out_.push_back(']'); pop(); }

    void string(std::string_view key, std::string_view v) { key_prefix(key); append_string(out_, v); }
    void uint(std::string_view key, std::uint64_t v) { key_prefix(key); append_uint(out_, v); }
    void int64(std::string_view key, std::int64_t v) { key_prefix(key); append_int(out_, v); }
    void boolean(std::string_view key, bool v) { key_prefix(key); out_.append(v ? "true" : "false"); }
    void timestamp(std::string_view key, std::uint64_t unix_ns) { key_prefix(key); append_timestamp(out_, unix_ns); }
    // Pre-rendered JSON (e.g. a cached fragment) as the value of key.
    void raw(std::string_view key, std::string_view json) { key_prefix(key); out_.append(json); }
    // Skips empty strings: absent is better than "" for ECS keyword fields.
    void string_if(std::string_view key, std::string_view v) { if (!v.empty()) string(key, v); }

    void element(std::string_view v) { value_prefix(); append_string(out_, v); }
    void element(std::uint64_t v) { value_prefix(); append_uint(out_, v); }

    std::string& out() { return out_; }

private:
    void value_prefix() {
        if (need_comma_[depth_]) out_.push_back(',');
        need_comma_[depth_] = true;
    }
    void key_prefix(std::string_view key) {
        value_prefix();
        out_.push_back('"');
        out_.append(key);
        out_.append("\":");
    }
    void push() { if (depth_ + 1 < need_comma_.size()) need_comma_[++depth_] = false; }
    void pop() { if (depth_ > 0) --depth_; }

    std::string& out_;
    std::array<bool, 16> need_comma_{};
    std::size_t depth_ = 0;
};

}  // namespace mw::json
