// Model-card gate ("no card, no deploy"): a card in Markdown (YAML front matter or headings) or
// YAML must state owner, intended use, training data, known failure modes, last evaluation date
// and the response when the model fails.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace mw::scanner {

struct CardCheck {
    std::map<std::string, std::string> fields;  // canonical field name -> text
    std::vector<std::string> missing;           // canonical names of absent or empty fields
    std::vector<std::string> problems;          // present but invalid (e.g. a date that is not a date)
    bool complete() const { return missing.empty() && problems.empty(); }
};

// The canonical required fields, in the order they are reported.
const std::vector<std::string>& required_card_fields();

// `name` picks the syntax: *.yaml / *.yml is YAML, anything else Markdown.
CardCheck check_model_card_text(std::string_view text, std::string_view name);
Result<CardCheck> check_model_card(const std::string& path);

}  // namespace mw::scanner
