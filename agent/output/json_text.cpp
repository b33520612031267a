// JSON escaping with UTF-8 repair, integer and date formatting: the encoder's hot path.
#include "output/json_text.hpp"

#include <charconv>
#include <cstring>

namespace mw::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// True for bytes that go through unchanged: printable ASCII except '"' and '\\'.
constexpr bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

// Eight bytes at once (SWAR): true when none needs escaping or UTF-8 checking. The
// "has zero/less-than byte" tricks can only misfire after a real hit, so "none" is exact.
inline bool word_plain(std::uint64_t x) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    const std::uint64_t ctl = (x - ones * 0x20) & ~x;
    const std::uint64_t q = x ^ (ones * '"');
    const std::uint64_t b = x ^ (ones * '\\');
    return ((ctl | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high) == 0;
}

// Length of the run of plain bytes starting at i.
inline std::size_t plain_run(std::string_view s, std::size_t i) {
    const std::size_t n = s.size();
    std::size_t j = i;
    while (j + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + j, 8);
        if (!word_plain(w)) break;
        j += 8;
    }
    while (j < n && plain(static_cast<unsigned char>(s[j]))) ++j;
    return j;
}

// Length of a well-formed UTF-8 sequence at s[i], or 0 with `bad` set to the length of the
// maximal invalid subpart to replace with one U+FFFD.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    std::size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;        // overlong
        else if (c == 0xED) hi = 0x9F;   // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;        // overlong
        else if (c == 0xF4) hi = 0x8F;   // above U+10FFFF
    } else {
        bad = 1;                         // continuation byte, C0/C1, F5..FF
        return 0;
    }
    for (std::size_t k = 1; k <= need; ++k) {
        if (i + k >= s.size()) { bad = k; return 0; }
        unsigned char cc = b(i + k);
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (cc < l || cc > h) { bad = k; return 0; }
    }
    return need + 1;
}

}  // namespace

void append_string(JsonLine& out, std::string_view s) {
    out.put('"');
    append_escaped(out, s);
    out.put('"');
}

void append_escaped(JsonLine& out, std::string_view s) {
    // Worst case 6 output bytes per input byte (\u00XX); reserve once, write through a pointer.
    char* const begin = out.ensure(s.size() * 6);
    char* p = begin;
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const std::size_t run = plain_run(s, i);
        if (run > i) {
            std::memcpy(p, s.data() + i, run - i);
            p += run - i;
            i = run;
            if (i == n) break;
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            *p++ = '\\';
            switch (c) {
                case '"': *p++ = '"'; break;
                case '\\': *p++ = '\\'; break;
                case '\n': *p++ = 'n'; break;
                case '\r': *p++ = 'r'; break;
                case '\t': *p++ = 't'; break;
                case '\b': *p++ = 'b'; break;
                case '\f': *p++ = 'f'; break;
                default:
                    *p++ = 'u';
                    *p++ = '0';
                    *p++ = '0';
                    *p++ = kHex[c >> 4];
                    *p++ = kHex[c & 0xF];
            }
            ++i;
            continue;
        }
        std::size_t bad = 0;
        std::size_t len = utf8_sequence(s, i, bad);
        if (len != 0) {
            std::memcpy(p, s.data() + i, len);
            p += len;
            i += len;
        } else {
            std::memcpy(p, kReplacement.data(), kReplacement.size());  // 3 bytes for >= 1 input byte
            p += kReplacement.size();
            i += bad;
        }
    }
    out.advance(static_cast<std::size_t>(p - begin));
}

void append_uint(JsonLine& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

void append_int(JsonLine& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

namespace {

// "YYYY-MM-DDTHH:MM:SS" of a Unix second: civil date from days since the epoch
// (H. Hinnant's algorithm), no gmtime, no locale.
void format_second(std::uint64_t secs, char* buf) {
    std::int64_t z = static_cast<std::int64_t>(secs / 86400) + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) ++y;
    const std::uint64_t sod = secs % 86400;
    auto put = [&](std::size_t pos, std::uint64_t v, int width) {
        for (int k = width - 1; k >= 0; --k) {
            buf[pos + static_cast<std::size_t>(k)] = static_cast<char>('0' + v % 10);
            v /= 10;
        }
    };
    put(0, static_cast<std::uint64_t>(y), 4);
    buf[4] = '-';
    put(5, static_cast<std::uint64_t>(m), 2);
    buf[7] = '-';
    put(8, static_cast<std::uint64_t>(d), 2);
    buf[10] = 'T';
    put(11, sod / 3600, 2);
    buf[13] = ':';
    put(14, sod / 60 % 60, 2);
    buf[16] = ':';
    put(17, sod % 60, 2);
}

}  // namespace

void append_timestamp(JsonLine& out, std::uint64_t unix_ns) {
    const std::uint64_t secs = unix_ns / 1'000'000'000ull;
    std::uint32_t nanos = static_cast<std::uint32_t>(unix_ns % 1'000'000'000ull);
    // Most timestamps of an event (and of consecutive events) fall in the same second as the
    // previous one: its date text is kept per thread and only the nanoseconds are formatted.
    thread_local std::uint64_t last_secs = ~0ull;
    thread_local char last_date[19];
    if (secs != last_secs) {
        format_second(secs, last_date);
        last_secs = secs;
    }
    char* p = out.ensure(32);
    p[0] = '"';
    std::memcpy(p + 1, last_date, sizeof last_date);
    p[20] = '.';
    for (int k = 29; k >= 21; --k) {
        p[k] = static_cast<char>('0' + nanos % 10);
        nanos /= 10;
    }
    p[30] = 'Z';
    p[31] = '"';
    out.advance(32);
}

}  // namespace mw::json
