// Every field the encoder emits outside modelwarden.* must exist in the official ECS 9.4.0
// field list (ecs_flat.yml) with a compatible JSON type, and categorization values must be allowed.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "fixtures.hpp"

using namespace mw;
using njson = nlohmann::json;

namespace {

struct EcsField {
    std::string type;
    bool array = false;
    std::set<std::string> allowed;                              // allowed_values names
    std::map<std::string, std::set<std::string>> expected_types; // category -> event types
};

const std::map<std::string, EcsField>& ecs_fields() {
    static const std::map<std::string, EcsField> fields = [] {
        const std::filesystem::path path = MW_ECS_FLAT_YML;
        if (!std::filesystem::exists(path))
            FAIL("ECS field list not found at " << path << " (expected ../shared/ecs/ecs_flat.yml next to the repo)");
        YAML::Node root = YAML::LoadFile(path.string());
        std::map<std::string, EcsField> out;
        for (const auto& kv : root) {
            EcsField f;
            f.type = kv.second["type"].as<std::string>();
            for (const auto& n : kv.second["normalize"]) f.array |= n.as<std::string>() == "array";
            for (const auto& a : kv.second["allowed_values"]) {
                auto name = a["name"].as<std::string>();
                f.allowed.insert(name);
                for (const auto& t : a["expected_event_types"]) f.expected_types[name].insert(t.as<std::string>());
            }
            out.emplace(kv.first.as<std::string>(), std::move(f));
        }
        return out;
    }();
    return fields;
}

bool compatible(const std::string& ecs_type, const njson& v, std::string& why) {
    static const std::set<std::string> strings = {"keyword", "text", "wildcard", "match_only_text",
                                                  "constant_keyword", "ip", "date", "version"};
    static const std::set<std::string> integers = {"long", "integer", "short", "byte", "unsigned_long"};
    static const std::set<std::string> numbers = {"float", "half_float", "scaled_float", "double"};
    if (strings.count(ecs_type)) {
        if (!v.is_string()) return why = "expected a string", false;
        const std::string s = v.get<std::string>();
        if (ecs_type == "ip") {
            unsigned char buf[16];
            if (::inet_pton(AF_INET, s.c_str(), buf) != 1 && ::inet_pton(AF_INET6, s.c_str(), buf) != 1)
                return why = "not an IP address: " + s, false;
        }
        if (ecs_type == "date") {
            static const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z)");
            if (!std::regex_match(s, rfc3339)) return why = "not an RFC 3339 UTC date: " + s, false;
        }
        return true;
    }
    if (integers.count(ecs_type)) return v.is_number_integer() ? true : (why = "expected an integer", false);
    if (numbers.count(ecs_type)) return v.is_number() ? true : (why = "expected a number", false);
    if (ecs_type == "boolean") return v.is_boolean() ? true : (why = "expected a boolean", false);
    if (ecs_type == "object" || ecs_type == "flattened" || ecs_type == "nested") return v.is_object() ? true : (why = "expected an object", false);
    why = "unhandled ECS type " + ecs_type;
    return false;
}

// Collects "dotted.name -> value" for every leaf; arrays of scalars stay one leaf.
void flatten(const njson& j, const std::string& prefix, std::vector<std::pair<std::string, njson>>& out) {
    for (const auto& [k, v] : j.items()) {
        std::string name = prefix.empty() ? k : prefix + "." + k;
        if (v.is_object()) flatten(v, name, out);
        else out.emplace_back(name, v);
    }
}

void check_conformance(const SecurityEvent& e, const char* label) {
    INFO("event: " << label);
    std::string out;
    test::fixed_encoder().encode(e, out);
    njson j = njson::parse(out);
    std::vector<std::pair<std::string, njson>> leaves;
    flatten(j, "", leaves);
    const auto& fields = ecs_fields();
    std::size_t checked = 0;
    for (const auto& [name, v] : leaves) {
        if (name.rfind("modelwarden.", 0) == 0) continue;
        INFO("field: " << name << " = " << v.dump());
        auto it = fields.find(name);
        REQUIRE(it != fields.end());
        const EcsField& f = it->second;
        std::string why;
        if (v.is_array()) {
            REQUIRE(f.array);
            for (const auto& el : v) {
                REQUIRE_FALSE(el.is_object());
                CHECK(compatible(f.type, el, why));
                INFO(why);
            }
        } else {
            bool ok = compatible(f.type, v, why);
            INFO(why);
            CHECK(ok);
        }
        if (!f.allowed.empty()) {
            for (const auto& el : v.is_array() ? v : njson::array({v})) CHECK(f.allowed.count(el.get<std::string>()) == 1);
        }
        ++checked;
    }
    CHECK(checked > 20);

    // ECS categorization: each event.type must be expected by at least one of the event's
    // categories, and each category must get at least one of its expected types.
    const auto& cat_field = fields.at("event.category");
    const auto categories = j["event"]["category"].get<std::vector<std::string>>();
    const auto types = j["event"]["type"].get<std::vector<std::string>>();
    REQUIRE_FALSE(categories.empty());
    REQUIRE_FALSE(types.empty());
    for (const auto& t : types) {
        bool expected = false;
        for (const auto& c : categories) expected |= cat_field.expected_types.at(c).count(t) == 1;
        INFO("event.type " << t);
        CHECK(expected);
    }
    for (const auto& c : categories) {
        bool has = false;
        for (const auto& t : types) has |= cat_field.expected_types.at(c).count(t) == 1;
        INFO("event.category " << c);
        CHECK(has);
    }
}

}  // namespace

TEST_CASE("ECS field list is present and parsed", "[output][ecs][conformance]") {
    const auto& f = ecs_fields();
    REQUIRE(f.count("@timestamp") == 1);
    CHECK(f.at("process.args").array);
    CHECK(f.at("destination.ip").type == "ip");
    CHECK(f.at("event.kind").allowed.count("alert") == 1);
}

TEST_CASE("representative events conform to ECS 9.4.0", "[output][ecs][conformance]") {
    test::World w;
    Process exited;
    check_conformance(w.exec_event(), "exec");
    check_conformance(w.open_event(), "open");
    check_conformance(w.connect_event(), "connect");
    check_conformance(w.alert_event(), "exec alert with rule, threat, ancestors, workload");
    check_conformance(w.enforcement_event(), "enforcement");
    check_conformance(w.ptrace_event(), "ptrace alert");
    check_conformance(w.exit_event(exited), "exit");
    check_conformance(w.rename_unix_event(), "rename");
    check_conformance(w.pipeline_error_event(), "pipeline error");
}

TEST_CASE("the conformance check catches a non-ECS field", "[output][ecs][conformance]") {
    // Guards the checker itself: a made-up field and a wrongly typed one are both rejected.
    const auto& f = ecs_fields();
    CHECK(f.count("process.cgroup.path") == 0);
    std::string why;
    CHECK_FALSE(compatible(f.at("process.pid").type, njson("4242"), why));
    CHECK_FALSE(compatible(f.at("destination.ip").type, njson("not-an-ip"), why));
    CHECK_FALSE(compatible(f.at("@timestamp").type, njson("2025-11-22 00:00:00"), why));
    CHECK(compatible(f.at("user.id").type, njson("1001"), why));
}
