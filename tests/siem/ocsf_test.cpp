// OCSF 1.8.0 output validated against the official class and object definitions in
// shared/ocsf/1.8.0: every attribute defined for its class (with parents) or object, required
// attributes present, enum ids valid, type_uid = class_uid * 100 + activity_id.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "sinks/file_sink.hpp"
#include "sinks/hec_sink.hpp"
#include "sinks/ocsf_encoder.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kSchema = MW_OCSF_SCHEMA_DIR;

json load(const fs::path& p) {
    std::ifstream in(p);
    if (!in) FAIL("OCSF schema file missing: " << p.string() << " (the OCSF validation needs shared/ocsf/1.8.0)");
    return json::parse(in);
}

// Attributes of a class or object with its `extends` chain merged (child fields override).
struct Schema {
    json dictionary = load(kSchema / "dictionary.json")["attributes"];
    json categories = load(kSchema / "categories.json")["attributes"];
    std::map<std::string, fs::path> files;

    Schema() {
        for (const auto& e : fs::recursive_directory_iterator(kSchema))
            if (e.path().extension() == ".json") files[e.path().parent_path().filename().string() == "objects"
                                                           ? "object:" + e.path().stem().string()
                                                           : "event:" + e.path().stem().string()] = e.path();
    }

    json merged(const std::string& kind, const std::string& name, json* top = nullptr) const {
        auto it = files.find(kind + ":" + name);
        if (it == files.end()) return json::object();  // _entity / object: the roots outside this subset
        json def = load(it->second);
        json attrs = def.contains("extends") ? merged(kind, def["extends"].get<std::string>()) : json::object();
        for (auto& [k, v] : def["attributes"].items()) {
            if (k == "$include") continue;
            if (!attrs.contains(k)) attrs[k] = json::object();
            for (auto& [f, fv] : v.items()) attrs[k][f] = fv;
        }
        if (top) *top = def;
        return attrs;
    }

    std::vector<std::string> validate(const json& value, const json& attrs, const std::string& where) const {
        std::vector<std::string> errs;
        for (auto& [k, v] : attrs.items())
            if (v.value("requirement", "") == "required" && !value.contains(k))
                errs.push_back(where + k + ": required attribute missing");
        for (auto& [k, v] : value.items()) {
            const std::string path = where + k;
            if (!attrs.contains(k)) {
                errs.push_back(path + ": not an attribute of this class/object");
                continue;
            }
            if (!dictionary.contains(k)) {
                errs.push_back(path + ": not in the dictionary");
                continue;
            }
            const json& dict = dictionary[k];
            std::set<std::string> enums;
            for (const json* src : {&dict, &attrs[k]})
                if (src->contains("enum"))
                    for (auto& [ek, ev] : (*src)["enum"].items()) enums.insert(ek);
            // base_event's category_uid/class_uid/type_uid enums are placeholders each class fills
            // in; check_event() checks those three against categories.json and the class uid.
            const bool class_ids = where.empty() && (k == "category_uid" || k == "class_uid" || k == "type_uid");
            if (!enums.empty() && !class_ids) {
                if (!v.is_number_integer() || !enums.count(std::to_string(v.get<long long>())))
                    errs.push_back(path + ": " + v.dump() + " is not a valid enum id");
            }
            const std::string type = attrs[k].value("type", dict.value("type", ""));
            const bool is_array = dict.value("is_array", false);
            if (is_array != v.is_array()) errs.push_back(path + ": array-ness differs from the dictionary");
            if (type.size() > 2 && type.substr(type.size() - 2) == "_t") {
                const bool ok = type == "integer_t" || type == "long_t" || type == "timestamp_t" || type == "port_t"
                                    ? (is_array || v.is_number_integer())
                                : type == "boolean_t" ? v.is_boolean()
                                                      : (is_array || v.is_string());
                if (!ok) errs.push_back(path + ": wrong JSON type for " + type);
            } else if (!type.empty()) {
                if (!files.count("object:" + type)) {
                    errs.push_back(path + ": object '" + type + "' is not in the schema subset (cannot validate)");
                    continue;
                }
                const json obj_attrs = merged("object", type);
                if (is_array) {
                    for (const auto& item : v) {
                        auto sub = validate(item, obj_attrs, path + "[].");
                        errs.insert(errs.end(), sub.begin(), sub.end());
                    }
                } else {
                    auto sub = validate(v, obj_attrs, path + ".");
                    errs.insert(errs.end(), sub.begin(), sub.end());
                }
            }
        }
        return errs;
    }

    // Full check of one event; returns the problems (empty = valid).
    std::vector<std::string> check_event(const json& ev, const std::string& class_name) const {
        json def;
        const json attrs = merged("event", class_name, &def);
        std::string category = def.value("category", "");
        for (json d = def; category.empty() && d.contains("extends");) {
            d = load(files.at("event:" + d["extends"].get<std::string>()));
            category = d.value("category", "");
        }
        std::vector<std::string> errs = validate(ev, attrs, "");
        const int category_uid = categories.at(category)["uid"].get<int>();
        const int class_uid = category_uid * 1000 + def["uid"].get<int>();
        if (ev.value("category_uid", -1) != category_uid) errs.push_back("category_uid differs from categories.json");
        if (ev.value("class_uid", -1) != class_uid) errs.push_back("class_uid should be " + std::to_string(class_uid));
        if (ev.value("type_uid", -1LL) != class_uid * 100LL + ev.value("activity_id", 0))
            errs.push_back("type_uid != class_uid * 100 + activity_id");
        return errs;
    }
};

const Schema& schema() {
    static const Schema s;
    return s;
}

json translate(const std::string& ecs) {
    auto r = mw::ecs_to_ocsf(ecs);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return json::parse(r.value());
}

const std::string kHostAgent =
    R"("host":{"hostname":"gpu-01","name":"gpu-01","id":"4b1d","os":{"type":"linux"}},"agent":{"type":"modelwarden","version":"0.3.0","id":"4b1d"})";

}  // namespace

TEST_CASE("ocsf: an alert is a valid Detection Finding", "[ocsf]") {
    const std::string ecs =
        R"({"@timestamp":"2026-11-22T01:02:03.456789Z","ecs":{"version":"9.4.0"},"event":{"id":"4b1d-42","sequence":42,"kind":"alert","category":["file"],"type":["access"],"action":"open","outcome":"success","severity":73,"module":"modelwarden","dataset":"modelwarden.alert","created":"2026-11-22T01:02:03.500000Z"},"message":"secret file read","process":{"pid":1234,"executable":"/usr/bin/python3.11","name":"python3","args":["python3","serve.py"],"command_line":"python3 serve.py","parent":{"pid":1}},"file":{"path":"/etc/shadow"},"rule":{"id":"MW-FILE-003","name":"read outside the allow list"},)" +
        kHostAgent + "}";
    const json o = translate(ecs);
    const auto errs = schema().check_event(o, "detection_finding");
    INFO(o.dump(2));
    for (const auto& e : errs) UNSCOPED_INFO(e);
    CHECK(errs.empty());
    CHECK(o["class_uid"] == 2004);
    CHECK(o["type_uid"] == 200401);
    CHECK(o["time"] == 1795309323456LL);
    CHECK(o["finding_info"]["uid"] == "4b1d-42");
    CHECK(o["finding_info"]["types"] == json::array({"MW-FILE-003"}));
    CHECK(o["finding_info"]["title"] == "read outside the allow list");
    CHECK(o["severity_id"] == 4);
    CHECK(o["metadata"]["uid"] == "4b1d-42");
    CHECK(o["metadata"]["version"] == "1.8.0");
    CHECK(o["metadata"]["product"]["version"] == "0.3.0");
    CHECK(o["device"]["hostname"] == "gpu-01");
}

TEST_CASE("ocsf: process telemetry is a valid Process Activity", "[ocsf]") {
    const std::string ecs =
        R"({"@timestamp":"2026-11-22T01:02:03Z","event":{"id":"4b1d-7","kind":"event","category":["process"],"type":["start"],"action":"exec","outcome":"success","dataset":"modelwarden.event"},"process":{"pid":77,"entity_id":"e77","executable":"/bin/dash","name":"dash","args":["/bin/sh","-c","exit 0"],"command_line":"/bin/sh -c \"exit 0\"","working_directory":"/srv","start":"2026-11-22T01:02:02.000001Z","parent":{"pid":1234,"executable":"/usr/bin/python3.11","name":"python3"}},)" +
        kHostAgent + "}";
    const json o = translate(ecs);
    const auto errs = schema().check_event(o, "process_activity");
    INFO(o.dump(2));
    for (const auto& e : errs) UNSCOPED_INFO(e);
    CHECK(errs.empty());
    CHECK(o["class_uid"] == 1007);
    CHECK(o["activity_id"] == 1);
    CHECK(o["type_uid"] == 100701);
    CHECK(o["process"]["pid"] == 77);
    CHECK(o["process"]["file"]["path"] == "/bin/dash");
    CHECK(o["process"]["created_time"] == 1795309322000LL);
    CHECK(o["process"]["parent_process"]["pid"] == 1234);
    CHECK(o["actor"]["process"]["pid"] == 1234);
}

TEST_CASE("ocsf: file telemetry is a valid File System Activity", "[ocsf]") {
    const std::string ecs =
        R"({"@timestamp":"2026-11-22T01:02:03.1Z","event":{"id":"4b1d-8","kind":"event","category":["file"],"type":["change"],"action":"write","outcome":"failure","dataset":"modelwarden.event"},"process":{"pid":5,"name":"python3","parent":{"pid":1}},"file":{"path":"/models/m.pt"},)" +
        kHostAgent + "}";
    const json o = translate(ecs);
    const auto errs = schema().check_event(o, "file_activity");
    INFO(o.dump(2));
    for (const auto& e : errs) UNSCOPED_INFO(e);
    CHECK(errs.empty());
    CHECK(o["class_uid"] == 1001);
    CHECK(o["activity_id"] == 3);
    CHECK(o["type_uid"] == 100103);
    CHECK(o["status_id"] == 2);
    CHECK(o["time"] == 1795309323100LL);
    CHECK(o["file"]["name"] == "m.pt");
    CHECK(o["actor"]["process"]["pid"] == 5);
}

TEST_CASE("ocsf: network telemetry is a valid Network Activity", "[ocsf]") {
    const std::string ecs =
        R"({"@timestamp":"2026-11-22T01:02:03Z","event":{"id":"4b1d-9","kind":"event","category":["network"],"type":["connection","start"],"action":"connect","outcome":"success","dataset":"modelwarden.event"},"process":{"pid":5},"network":{"transport":"tcp","direction":"egress"},"source":{"address":"10.0.0.2","ip":"10.0.0.2","port":40000},"destination":{"address":"10.1.2.3","ip":"10.1.2.3","port":443},)" +
        kHostAgent + "}";
    const json o = translate(ecs);
    const auto errs = schema().check_event(o, "network_activity");
    INFO(o.dump(2));
    for (const auto& e : errs) UNSCOPED_INFO(e);
    CHECK(errs.empty());
    CHECK(o["class_uid"] == 4001);
    CHECK(o["type_uid"] == 400101);
    CHECK(o["dst_endpoint"] == json({{"ip", "10.1.2.3"}, {"port", 443}}));
    CHECK(o["connection_info"]["direction_id"] == 2);
}

TEST_CASE("ocsf: the validator itself rejects bad events", "[ocsf]") {
    json bad = {{"class_uid", 1007}, {"category_uid", 1}, {"activity_id", 9}, {"type_uid", 100701}, {"bogus", 1}};
    const auto errs = schema().check_event(bad, "process_activity");
    const std::set<std::string> got(errs.begin(), errs.end());
    CHECK(got.count("bogus: not an attribute of this class/object"));
    CHECK(got.count("activity_id: 9 is not a valid enum id"));
    CHECK(got.count("type_uid != class_uid * 100 + activity_id"));
    CHECK(got.count("process: required attribute missing"));
    CHECK(got.count("metadata: required attribute missing"));
}

TEST_CASE("ocsf: events without an OCSF class are refused with a reason", "[ocsf]") {
    auto r = mw::ecs_to_ocsf(R"({"@timestamp":"2026-11-22T01:02:03Z","event":{"kind":"pipeline_error","action":"lost"}})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "ocsf: no OCSF class for this event (kind 'pipeline_error', action 'lost')");
    CHECK_FALSE(mw::ecs_to_ocsf("not json").ok());
    CHECK_FALSE(mw::ecs_to_ocsf(R"({"event":{"kind":"event"}})").ok());
}

TEST_CASE("ocsf: hec and file sinks carry OCSF, records without a class stay ECS", "[ocsf]") {
    const std::string alert =
        R"({"@timestamp":"2026-11-22T01:02:03Z","event":{"id":"a-1","kind":"alert","category":["file"],"action":"open","outcome":"success","severity":50},"rule":{"id":"MW-FILE-003","name":"secret read"},"file":{"path":"/etc/shadow"}})";
    const std::string loss = R"({"@timestamp":"2026-11-22T01:02:04Z","event":{"id":"a-2","kind":"pipeline_error","action":"spool-loss"}})";
    mw::SpoolRecord r1{1, mw::EventKind::Alert, 1'795'309'323'000'000'000ull, "a-1", alert};
    mw::SpoolRecord r2{2, mw::EventKind::PipelineError, 1'795'309'324'000'000'000ull, "a-2", loss};

    mw::HecOptions hec;
    hec.ocsf = true;
    hec.host = "h";
    std::string body;
    mw::append_hec_envelope(body, r1, hec);
    const json env = json::parse(body);
    CHECK(env["event"]["class_uid"] == 2004);
    CHECK(env["event"]["finding_info"]["uid"] == "a-1");
    CHECK(env["fields"]["event_id"] == "a-1");
    CHECK(schema().check_event(env["event"], "detection_finding").empty());
    body.clear();
    mw::append_hec_envelope(body, r2, hec);
    CHECK(json::parse(body)["event"] == json::parse(loss));

    std::string lines, why;
    REQUIRE(mw::append_json_line(lines, r1, mw::SinkFormat::Ocsf, why));
    REQUIRE(mw::append_json_line(lines, r2, mw::SinkFormat::Ocsf, why));
    const auto nl = lines.find('\n');
    REQUIRE(nl != std::string::npos);
    CHECK(json::parse(lines.substr(0, nl))["type_uid"] == 200401);
    CHECK(lines.substr(nl + 1) == loss + "\n");
    std::string ecs_line;
    REQUIRE(mw::append_json_line(ecs_line, r1, mw::SinkFormat::Ecs, why));
    CHECK(ecs_line == alert + "\n");
}
