// Unit tests for the static pickle VM and the global policy on hand-assembled streams.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "scanner/global_policy.hpp"
#include "scanner/pickle_vm.hpp"
#include "scanner/scanner.hpp"

using namespace mw::scanner;
using namespace std::string_literals;

namespace {
std::span<const std::uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
ScanReport scan(const std::string& s) { return scan_bytes(bytes(s), "t"); }
}  // namespace

TEST_CASE("GLOBAL + REDUCE is reported with module, name, offset and the call", "[pickle]") {
    std::string p = "\x80\x02" "cposix\nsystem\n" "X\x02\x00\x00\x00ls\x85R."s;
    auto a = analyse_pickle(bytes(p));
    REQUIRE(a.stopped);
    CHECK(a.protocol == 2);
    CHECK(a.end == p.size());
    REQUIRE(a.globals.size() == 1);
    CHECK(a.globals[0].module == "posix");
    CHECK(a.globals[0].name == "system");
    CHECK(a.globals[0].offset == 2);
    REQUIRE(a.calls.size() == 1);
    CHECK(a.calls[0].callee == "posix.system");
    CHECK(a.calls[0].opcode == 'R');
    CHECK(a.calls[0].offset == p.size() - 2);
    CHECK(a.anomalies.empty());
}

TEST_CASE("STACK_GLOBAL operands are tracked through memo PUT/GET and BINUNICODE8", "[pickle]") {
    std::string p = "\x80\x04\x8c\x02os\x94" "0" "\x8d" "\x06\0\0\0\0\0\0\0" "system\x94" "0" "h\x00h\x01\x93" ")R."s;
    auto a = analyse_pickle(bytes(p));
    REQUIRE(a.stopped);
    REQUIRE(a.globals.size() == 1);
    CHECK(a.globals[0].module == "os");
    CHECK(a.globals[0].name == "system");
    CHECK_FALSE(a.globals[0].dynamic);
    CHECK(a.globals[0].offset == p.find('\x93'));
}

TEST_CASE("STACK_GLOBAL on a non-string operand is a dangerous dynamic import", "[pickle]") {
    std::string p = "\x80\x04K\x01K\x02\x93.";
    auto r = scan(p);
    CHECK(r.verdict() == Verdict::dangerous);
    REQUIRE_FALSE(r.findings.empty());
    CHECK(r.findings[0].global == "<dynamic>");
    CHECK(r.findings[0].offset == 6);
}

TEST_CASE("raw-unicode-escape UNICODE strings are decoded before naming the global", "[pickle]") {
    auto a = analyse_pickle(bytes("V\\u006fs\nVsystem\n\x93."));
    REQUIRE(a.globals.size() == 1);
    CHECK(a.globals[0].module == "os");
}

TEST_CASE("truncated, unknown-opcode and bad-memo pickles are anomalies, never silent", "[pickle]") {
    auto t = analyse_pickle(bytes("\x80\x02" "cposix\nsystem\n"));
    CHECK_FALSE(t.stopped);
    REQUIRE(t.anomalies.size() == 1);
    CHECK(t.anomalies[0].message == "truncated pickle: no STOP opcode");
    CHECK(t.globals.size() == 1);

    auto u = analyse_pickle(bytes("\x80\x02\xff."));
    REQUIRE(u.anomalies.size() == 1);
    CHECK(u.anomalies[0].message == "unknown opcode 0xff");
    CHECK(u.anomalies[0].offset == 2);

    auto m = analyse_pickle(bytes("\x80\x02h\x05."));
    REQUIRE(m.anomalies.size() == 1);
    CHECK(m.anomalies[0].message == "memo key 5 not found");

    auto proto = analyse_pickle(bytes("\x80\x09N."));
    REQUIRE(proto.anomalies.size() == 1);
    CHECK(proto.anomalies[0].message == "unsupported pickle protocol 9");
}

TEST_CASE("a FRAME whose length does not match the opcodes is flagged", "[pickle]") {
    std::string p = std::string("\x80\x04\x95\x02\0\0\0\0\0\0\0", 11) + "\x8c\x04" "abcd" "\x94" ".";
    auto a = analyse_pickle(bytes(p));
    CHECK(a.stopped);
    REQUIRE(a.anomalies.size() == 1);
    CHECK(a.anomalies[0].message == "opcode crosses the end of a frame at offset 13");
}

TEST_CASE("EXT opcodes, BUILD on a global, and calls on call results are findings", "[pickle]") {
    auto ext = scan(std::string("\x80\x02\x82\x07)R.", 7));
    CHECK(ext.verdict() == Verdict::dangerous);
    CHECK(ext.has_global("<ext 7>"));

    auto build = scan("\x80\x02" "cargparse\nNamespace\n" "}b.");
    CHECK(build.verdict() == Verdict::dangerous);
    REQUIRE(build.findings.size() == 1);
    CHECK(build.findings[0].kind == "build");
    CHECK(build.findings[0].global == "argparse.Namespace");

    // collections.OrderedDict()() : calling a call result is suspicious, not silently allowed.
    auto chained = scan("\x80\x02" "ccollections\nOrderedDict\n" ")R)R.");
    CHECK(chained.verdict() == Verdict::suspicious);
    REQUIRE(chained.findings.size() == 1);
    CHECK(chained.findings[0].kind == "call");
}

TEST_CASE("bytes after STOP and appended pickles are reported with their offsets", "[pickle]") {
    auto tail = scan("\x80\x02N.garbage");
    CHECK(tail.verdict() == Verdict::suspicious);
    REQUIRE(tail.findings.size() == 1);
    CHECK(tail.findings[0].offset == 4);
    CHECK(tail.findings[0].message == "7 bytes after the pickle's STOP opcode");

    auto two = scan("\x80\x02N." "\x80\x02" "cos\nsystem\n" ")R.");
    CHECK(two.verdict() == Verdict::dangerous);
    bool appended = false, global_at = false;
    for (const auto& f : two.findings) {
        appended = appended || (f.kind == "appended" && f.offset == 4);
        global_at = global_at || (f.global == "os.system" && f.offset == 6);
    }
    CHECK(appended);
    CHECK(global_at);
}

TEST_CASE("policy normalises protocol 0-2 names and resolves dotted attributes", "[policy]") {
    CHECK(normalise_global("__builtin__", "eval") == "builtins.eval");
    CHECK(normalise_global("cPickle", "loads") == "pickle.loads");
    CHECK(normalise_global("urllib2", "urlopen") == "urllib.request.urlopen");
    CHECK(normalise_global("__builtin__", "xrange") == "builtins.range");

    CHECK(classify_global("__builtin__", "eval").severity == Severity::dangerous);
    CHECK(classify_global("builtins", "eval.__call__").severity == Severity::dangerous);
    CHECK(classify_global("os", "path.join").severity == Severity::dangerous);
    CHECK(classify_global("nt", "system").severity == Severity::dangerous);
    CHECK(classify_global("torch", "load").severity == Severity::dangerous);
    CHECK(classify_global("torch.hub", "load").severity == Severity::dangerous);
    CHECK(classify_global("commands", "getoutput").dotted == "subprocess.getoutput");
    CHECK(classify_global("commands", "getoutput").severity == Severity::dangerous);

    CHECK(classify_global("torch._utils", "_rebuild_tensor_v2").severity == Severity::info);
    CHECK(classify_global("collections", "OrderedDict").severity == Severity::info);
    CHECK(classify_global("torch", "FloatStorage").severity == Severity::info);
    CHECK(classify_global("__torch__.my.Module", "Linear").severity == Severity::info);
    // Attributes below an allowed name are not allowed.
    CHECK(classify_global("collections", "OrderedDict.fromkeys").severity == Severity::suspicious);
    CHECK(classify_global("mypkg", "Thing").severity == Severity::suspicious);
    CHECK(classify_global("osx", "thing").severity == Severity::suspicious);
}

TEST_CASE("hostile nesting does not overflow the stack", "[pickle]") {
    std::string deep(200000, ']');
    deep += std::string(199999, 'a');
    deep += ".";
    auto a = analyse_pickle(bytes(deep));
    CHECK(a.stopped);
    CHECK(a.anomalies.empty());
    std::string marks(300000, '(');
    auto b = analyse_pickle(bytes(marks));
    CHECK_FALSE(b.stopped);
}
