// Renders scan reports as text, JSON, or SARIF 2.1.0 (for CI code-scanning uploads).
#pragma once

#include <string>
#include <vector>

#include "scanner/findings.hpp"

namespace mw::scanner {

std::string render_text(const std::vector<ScanReport>& reports);
std::string render_json(const std::vector<ScanReport>& reports);
std::string render_sarif(const std::vector<ScanReport>& reports);

}  // namespace mw::scanner
