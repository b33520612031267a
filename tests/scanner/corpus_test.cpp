// Runs the scanner over the generated corpus: every benign file clean, every malicious file
// caught with the global and offset the generator recorded; then the CLI's exit codes/formats.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "scanner/scanner.hpp"

namespace {

nlohmann::json expected() {
    std::ifstream in(std::string(MW_SCANNER_CORPUS) + "/expected.json");
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

std::pair<int, std::string> run(const std::string& args) {
    std::string cmd = std::string(MW_SCAN_TOOL) + " " + args + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    return {WEXITSTATUS(status), out};
}

}  // namespace

TEST_CASE("every benign corpus file is clean (zero false positives)", "[corpus]") {
    int count = 0;
    for (const auto& e : expected()) {
        if (e["expect"] != "clean") continue;
        ++count;
        auto path = std::string(MW_SCANNER_CORPUS) + "/" + e["file"].get<std::string>();
        INFO(path);
        auto r = mw::scanner::scan_and_hash_file(path);
        REQUIRE(r.ok());
        for (const auto& f : r->report.findings) UNSCOPED_INFO(f.member << "@" << f.offset << ": " << f.message);
        CHECK(r->report.verdict() == mw::scanner::Verdict::clean);
        CHECK(r->report.findings.empty());
    }
    CHECK(count >= 50);
}

TEST_CASE("every malicious corpus file is caught with the right global and offset", "[corpus]") {
    int count = 0;
    for (const auto& e : expected()) {
        if (e["expect"] == "clean") continue;
        ++count;
        auto path = std::string(MW_SCANNER_CORPUS) + "/" + e["file"].get<std::string>();
        INFO(path);
        auto r = mw::scanner::scan_and_hash_file(path);
        REQUIRE(r.ok());
        auto v = r->report.verdict();
        if (e["expect"] == "dangerous") CHECK(v == mw::scanner::Verdict::dangerous);
        else CHECK((v == mw::scanner::Verdict::suspicious || v == mw::scanner::Verdict::dangerous));
        if (!e.contains("global")) continue;
        auto g = e["global"].get<std::string>();
        bool found = false;
        for (const auto& f : r->report.findings) {
            if (f.global != g || f.severity != mw::scanner::Severity::dangerous) continue;
            if (e.contains("offset") && f.offset != e["offset"].get<std::uint64_t>()) continue;
            if (e.contains("member") && !f.member.ends_with(e["member"].get<std::string>())) continue;
            found = true;
        }
        for (const auto& f : r->report.findings) UNSCOPED_INFO(f.global << " " << f.member << "@" << f.offset << ": " << f.message);
        CHECK(found);
    }
    CHECK(count >= 40);
}

TEST_CASE("mw-scan exit codes: 0 clean, 1 findings, 2 error", "[corpus][cli]") {
    const std::string dir = MW_SCANNER_CORPUS;
    CHECK(run("scan " + dir + "/benign").first == 0);
    CHECK(run("scan " + dir + "/benign/state_dict_p2.pt " + dir + "/malicious/reduce_system_p2.pkl").first == 1);
    CHECK(run("scan " + dir + "/does-not-exist.pt").first == 2);
    CHECK(run("scan --format yaml " + dir + "/benign").first == 2);
}

TEST_CASE("mw-scan JSON and SARIF name the global and byte offset", "[corpus][cli]") {
    const std::string file = std::string(MW_SCANNER_CORPUS) + "/malicious/inst_os_system.pkl";
    auto [rc, out] = run("scan --format json " + file);
    REQUIRE(rc == 1);
    auto j = nlohmann::json::parse(out);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["verdict"] == "dangerous");
    bool hit = false;
    for (const auto& f : j[0]["findings"]) hit = hit || (f["global"] == "os.system" && f["severity"] == "dangerous");
    CHECK(hit);

    auto [rc2, sarif_text] = run("scan --format sarif " + file);
    REQUIRE(rc2 == 1);
    auto s = nlohmann::json::parse(sarif_text);
    CHECK(s["version"] == "2.1.0");
    const auto& results = s["runs"][0]["results"];
    REQUIRE(!results.empty());
    bool located = false;
    for (const auto& res : results)
        located = located || (res["level"] == "error" && res["properties"]["global"] == "os.system" &&
                              res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == file);
    CHECK(located);
}
