// JSON escaping with UTF-8 repair, integer and date formatting: the encoder's hot path.
#include "output/json_text.hpp"

#include <charconv>

namespace mw::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// True for bytes that go through unchanged: printable ASCII except '"' and '\\'.
constexpr bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

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

void append_string(std::string& out, std::string_view s) {
    out.push_back('"');
    append_escaped(out, s);
    out.push_back('"');
}

void append_escaped(std::string& out, std::string_view s) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        std::size_t run = i;
        while (run < n && plain(static_cast<unsigned char>(s[run]))) ++run;
        if (run > i) {
            out.append(s.data() + i, run - i);
            i = run;
            if (i == n) break;
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out.push_back('\\');
            switch (c) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '\n': out.push_back('n'); break;
                case '\r': out.push_back('r'); break;
                case '\t': out.push_back('t'); break;
                case '\b': out.push_back('b'); break;
                case '\f': out.push_back('f'); break;
                default:
                    out.append("u00");
                    out.push_back(kHex[c >> 4]);
                    out.push_back(kHex[c & 0xF]);
            }
            ++i;
            continue;
        }
        std::size_t bad = 0;
        std::size_t len = utf8_sequence(s, i, bad);
        if (len != 0) {
            out.append(s.data() + i, len);
            i += len;
        } else {
            out.append(kReplacement);
            i += bad;
        }
    }
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_timestamp(std::string& out, std::uint64_t unix_ns) {
    const std::uint64_t secs = unix_ns / 1'000'000'000ull;
    const std::uint64_t nanos = unix_ns % 1'000'000'000ull;
    // Civil date from days since the epoch (H. Hinnant's algorithm): no gmtime, no locale.
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

    char buf[40];
    auto put = [&](std::size_t pos, std::uint64_t v, int width) {
        for (int k = width - 1; k >= 0; --k) {
            buf[pos + static_cast<std::size_t>(k)] = static_cast<char>('0' + v % 10);
            v /= 10;
        }
    };
    buf[0] = '"';
    put(1, static_cast<std::uint64_t>(y), 4);
    buf[5] = '-';
    put(6, static_cast<std::uint64_t>(m), 2);
    buf[8] = '-';
    put(9, static_cast<std::uint64_t>(d), 2);
    buf[11] = 'T';
    put(12, sod / 3600, 2);
    buf[14] = ':';
    put(15, sod / 60 % 60, 2);
    buf[17] = ':';
    put(18, sod % 60, 2);
    buf[20] = '.';
    put(21, nanos, 9);
    buf[30] = 'Z';
    buf[31] = '"';
    out.append(buf, 32);
}

}  // namespace mw::json
