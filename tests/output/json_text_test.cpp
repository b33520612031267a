// JSON text primitives and hostile input: every string yields valid one-line JSON.
#include <catch2/catch.hpp>

#include <time.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "output/json_text.hpp"

using namespace mw;
using njson = nlohmann::json;
using namespace std::string_literals;

namespace {

std::string escaped(std::string_view s) {
    mw::json::JsonLine out(16);  // small on purpose: growth is exercised too
    mw::json::append_string(out, s);
    return std::string(out.view());
}

}  // namespace

TEST_CASE("escaping of quotes, backslashes and control characters", "[output][json]") {
    CHECK(escaped("plain /path") == R"("plain /path")");
    CHECK(escaped("a\"b\\c") == R"("a\"b\\c")");
    CHECK(escaped("l1\nl2\r\t\b\f") == R"("l1\nl2\r\t\b\f")");
    CHECK(escaped("nul\0here"s) == R"("nul\u0000here")");
    CHECK(escaped("\x01\x1f") == R"("\u0001\u001f")");
    CHECK(escaped("\x7f") == "\"\x7f\"");
    CHECK(escaped("") == R"("")");
}

TEST_CASE("invalid UTF-8 becomes U+FFFD per maximal subpart", "[output][json][utf8]") {
    const std::string r = "\xEF\xBF\xBD";
    CHECK(escaped("a\xff" "b") == "\"a" + r + "b\"");
    CHECK(escaped("\xe2\x82") == "\"" + r + "\"");                 // truncated at the end
    CHECK(escaped("\xe2\x82x") == "\"" + r + "x\"");               // truncated before ASCII
    CHECK(escaped("\xc0\xaf") == "\"" + r + r + "\"");             // overlong
    CHECK(escaped("\xed\xa0\x80") == "\"" + r + r + r + "\"");     // UTF-16 surrogate
    CHECK(escaped("\xf4\x90\x80\x80") == "\"" + r + r + r + r + "\""); // above U+10FFFF
    CHECK(escaped("\x80") == "\"" + r + "\"");                     // lone continuation
    CHECK(escaped("\xf0\x9f\x98\x80 \xc3\xa9 \xe2\x82\xac") == "\"\xf0\x9f\x98\x80 \xc3\xa9 \xe2\x82\xac\"");
}

TEST_CASE("integers and RFC 3339 timestamps", "[output][json]") {
    mw::json::JsonLine out(8);
    mw::json::append_uint(out, 18446744073709551615ull);
    out.put(' ');
    mw::json::append_int(out, -9223372036854775807ll - 1);
    CHECK(out.view() == "18446744073709551615 -9223372036854775808");

    auto ts = [](std::uint64_t ns) {
        mw::json::JsonLine s;
        mw::json::append_timestamp(s, ns);
        return std::string(s.view());
    };
    CHECK(ts(0) == R"("1970-01-01T00:00:00.000000000Z")");
    CHECK(ts(951'782'400'000'000'001ull) == R"("2000-02-29T00:00:00.000000001Z")");
    CHECK(ts(4'102'444'799'999'999'999ull) == R"("2099-12-31T23:59:59.999999999Z")");

    // Against gmtime_r over a spread of instants.
    std::mt19937_64 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::uint64_t secs = rng() % 4'102'444'800ull;
        std::uint64_t ns = rng() % 1'000'000'000ull;
        time_t t = static_cast<time_t>(secs);
        tm parts{};
        gmtime_r(&t, &parts);
        char buf[64];
        std::snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ\"", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<unsigned long long>(ns));
        REQUIRE(ts(secs * 1'000'000'000ull + ns) == buf);
    }
}

TEST_CASE("hostile strings in every string field give valid one-line JSON", "[output][json][hostile]") {
    const std::string big(5000, 'A');
    std::vector<std::string> table = {
        "line1\nline2\r\n{\"injected\":true}",
        "\"},{\"kind\":\"event\"",
        "\\\\\\\"",
        "nul\0inside"s,
        "\xff\xfe\xfd",
        "\xc3",
        "\xe0\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "/tmp/" + big + "\xe2\x82",
        std::string(4096, '\n'),
        std::string(1, '\0'),
        "\x1b[31mred\x1b[0m",
        "\xe2\x80\xa8\xe2\x80\xa9",  // U+2028/2029: valid JSON, kept
    };
    std::mt19937 rng(42);
    for (int i = 0; i < 300; ++i) {
        std::string s(rng() % 9000, '\0');
        for (auto& c : s) c = static_cast<char>(rng() & 0xff);
        table.push_back(std::move(s));
    }

    test::World w;
    auto enc = test::fixed_encoder();
    std::string out;
    for (const std::string& h : table) {
        Process p = w.shell;
        p.executable = h;
        p.name = h;
        p.args = {h, h};
        p.cwd = h;
        p.cgroup_path = h;
        Process parent = w.server;
        parent.args = {h};
        std::array<const Process*, 2> chain{&parent, &w.init};
        RuleMatch rule = w.exec_rule;
        rule.name = h;
        rule.description = h;
        SecurityEvent e = w.alert_event();
        e.process = &p;
        e.ancestors = chain;
        e.rule = &rule;
        e.message = h;
        e.file_path = h;
        e.file_target_path = h;
        e.workload_name = h;
        e.enforcement.detail = h;
        e.action = h;
        enc.encode(e, out);
        REQUIRE(out.find('\n') == std::string::npos);
        REQUIRE(out.find('\0') == std::string::npos);
        njson j;
        REQUIRE_NOTHROW(j = njson::parse(out));
        REQUIRE(j["process"]["args"].size() == 2);
        REQUIRE(j["modelwarden"]["ancestors"][0]["args"].size() == 1);
        const std::string msg = j["message"].get<std::string>();
        // Valid UTF-8 input round-trips unchanged; the args pair stays two separate strings.
        if (njson::parse(escaped(h)).get<std::string>() == h) REQUIRE(msg == h);
        REQUIRE(j["process"]["command_line"].get<std::string>() == msg + " " + msg);
    }
}
