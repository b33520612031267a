// Output encoders for `scan`; SARIF results carry byte offsets so CI can point at the opcode.
#include "scanner/report_format.hpp"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace mw::scanner {

std::string render_text(const std::vector<ScanReport>& reports) {
    std::string out;
    for (const auto& r : reports) {
        if (!r.error.empty()) {
            out += fmt::format("{}: error: {}\n", r.path, r.error);
            continue;
        }
        out += fmt::format("{}: {} ({})\n", r.path, to_string(r.verdict()), r.format);
        for (const auto& f : r.findings)
            out += fmt::format("  {} {} {}@{}: {}\n", to_string(f.severity), f.kind, f.member.empty() ? "." : f.member, f.offset, f.message);
    }
    return out;
}

static nlohmann::json to_json(const ScanReport& r) {
    nlohmann::json j{{"path", r.path}, {"format", r.format}, {"verdict", to_string(r.verdict())}};
    if (!r.error.empty()) j["error"] = r.error;
    auto& fs = j["findings"] = nlohmann::json::array();
    for (const auto& f : r.findings)
        fs.push_back({{"severity", to_string(f.severity)}, {"kind", f.kind}, {"member", f.member}, {"offset", f.offset}, {"global", f.global}, {"message", f.message}});
    return j;
}

std::string render_json(const std::vector<ScanReport>& reports) {
    auto arr = nlohmann::json::array();
    for (const auto& r : reports) arr.push_back(to_json(r));
    return arr.dump(2) + "\n";
}

std::string render_sarif(const std::vector<ScanReport>& reports) {
    std::map<std::string, std::string> rules;
    auto results = nlohmann::json::array();
    for (const auto& r : reports) {
        if (!r.error.empty()) {
            rules.emplace("scan-error", "The file could not be scanned");
            results.push_back({{"ruleId", "scan-error"}, {"level", "error"}, {"message", {{"text", r.error}}},
                               {"locations", {{{"physicalLocation", {{"artifactLocation", {{"uri", r.path}}}}}}}}});
        }
        for (const auto& f : r.findings) {
            auto rule = "model-" + f.kind;
            rules.emplace(rule, fmt::format("Model artifact finding: {}", f.kind));
            nlohmann::json loc{{"physicalLocation", {{"artifactLocation", {{"uri", r.path}}}, {"region", {{"byteOffset", f.offset}}}}}};
            if (!f.member.empty()) loc["logicalLocations"] = {{{"name", f.member}, {"kind", "member"}}};
            results.push_back({{"ruleId", rule},
                               {"level", f.severity == Severity::dangerous ? "error" : "warning"},
                               {"message", {{"text", f.message}}},
                               {"locations", nlohmann::json::array({loc})},
                               {"properties", {{"global", f.global}, {"severity", to_string(f.severity)}}}});
        }
    }
    auto rule_arr = nlohmann::json::array();
    for (const auto& [id, text] : rules) rule_arr.push_back({{"id", id}, {"shortDescription", {{"text", text}}}});
    nlohmann::json sarif{{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
                         {"version", "2.1.0"},
                         {"runs", {{{"tool", {{"driver", {{"name", "modelwarden"}, {"informationUri", "https://github.com/modelwarden"}, {"rules", rule_arr}}}}},
                                    {"results", results}}}}};
    return sarif.dump(2) + "\n";
}

}  // namespace mw::scanner
