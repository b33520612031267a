// Model-card parsing. Field names are matched loosely (case, spaces, hyphens, a few synonyms)
// because cards are written by people; presence and non-emptiness are checked strictly.
#include "scanner/model_card.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace mw::scanner {
namespace {

std::string canon(std::string_view raw) {
    std::string s;
    for (char c : raw) {
        if (std::isalnum(static_cast<unsigned char>(c))) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else if (!s.empty() && s.back() != '_') s += '_';
    }
    while (!s.empty() && s.back() == '_') s.pop_back();
    static const std::pair<std::string_view, std::string_view> aliases[] = {
        {"owner", "owner"}, {"owners", "owner"}, {"maintainer", "owner"}, {"contact", "owner"},
        {"intended_use", "intended_use"}, {"intended_uses", "intended_use"}, {"uses", "intended_use"},
        {"training_data", "training_data"}, {"training_dataset", "training_data"}, {"datasets", "training_data"},
        {"known_failure_modes", "known_failure_modes"}, {"failure_modes", "known_failure_modes"}, {"limitations", "known_failure_modes"},
        {"last_evaluation_date", "last_evaluation_date"}, {"last_evaluation", "last_evaluation_date"}, {"last_evaluated", "last_evaluation_date"},
        {"evaluation_date", "last_evaluation_date"},
        {"failure_response", "failure_response"}, {"what_to_do_when_it_fails", "failure_response"},
        {"incident_response", "failure_response"}, {"on_failure", "failure_response"}};
    for (auto [a, c] : aliases)
        if (s == a) return std::string(c);
    return s;
}

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

void from_yaml(std::string_view text, CardCheck& out) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        out.problems.push_back(fmt::format("card YAML does not parse: {}", e.what()));
        return;
    }
    if (!root.IsMap()) {
        out.problems.push_back("card YAML is not a mapping");
        return;
    }
    for (const auto& kv : root) {
        std::string value;
        if (kv.second.IsScalar()) value = kv.second.as<std::string>();
        else if (kv.second.IsSequence() || kv.second.IsMap()) value = kv.second.size() ? YAML::Dump(kv.second) : "";
        out.fields[canon(kv.first.as<std::string>(""))] = trim(value);
    }
}

void from_markdown(std::string_view text, CardCheck& out) {
    std::string_view body = text;
    if (text.starts_with("---")) {
        auto end = text.find("\n---", 3);
        if (end != std::string_view::npos) {
            from_yaml(text.substr(3, end - 3), out);
            body = text.substr(std::min(text.size(), end + 4));
        }
    }
    // Headings: the section text up to the next heading is the value; "**Owner:** x" lines too.
    std::istringstream in{std::string(body)};
    std::string line, current, value;
    auto flush = [&] {
        if (!current.empty() && !out.fields.count(current)) out.fields[current] = trim(value);
        current.clear();
        value.clear();
    };
    while (std::getline(in, line)) {
        if (line.starts_with("#")) {
            flush();
            current = canon(line.substr(line.find_first_not_of('#')));
            continue;
        }
        auto colon = line.find(':');
        auto stripped = trim(line);
        if (current.empty() && colon != std::string::npos && (stripped.starts_with("**") || stripped.starts_with("- "))) {
            std::string key = line.substr(0, colon);
            std::erase(key, '*');
            key = trim(key);
            if (key.starts_with("- ")) key = key.substr(2);
            std::string v = line.substr(colon + 1);
            std::erase(v, '*');
            auto k = canon(key);
            if (!out.fields.count(k)) out.fields[k] = trim(v);
            continue;
        }
        value += line + "\n";
    }
    flush();
}

bool is_date(const std::string& s) {
    if (s.size() < 10) return false;
    for (int i = 0; i < 10; ++i)
        if ((i == 4 || i == 7) ? s[i] != '-' : !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    int month = std::stoi(s.substr(5, 2)), day = std::stoi(s.substr(8, 2));
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

}  // namespace

const std::vector<std::string>& required_card_fields() {
    static const std::vector<std::string> f{"owner", "intended_use", "training_data", "known_failure_modes", "last_evaluation_date", "failure_response"};
    return f;
}

CardCheck check_model_card_text(std::string_view text, std::string_view name) {
    CardCheck out;
    if (name.ends_with(".yaml") || name.ends_with(".yml")) from_yaml(text, out);
    else from_markdown(text, out);
    for (const auto& f : required_card_fields()) {
        auto it = out.fields.find(f);
        if (it == out.fields.end() || it->second.empty()) out.missing.push_back(f);
    }
    if (auto it = out.fields.find("last_evaluation_date"); it != out.fields.end() && !it->second.empty() && !is_date(it->second))
        out.problems.push_back(fmt::format("last_evaluation_date '{}' is not a YYYY-MM-DD date", it->second));
    return out;
}

Result<CardCheck> check_model_card(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("model card {} cannot be read: {}", path, std::strerror(errno)), errno);
    std::ostringstream ss;
    ss << in.rdbuf();
    return check_model_card_text(ss.str(), path);
}

}  // namespace mw::scanner
