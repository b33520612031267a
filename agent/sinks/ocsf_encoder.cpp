// ECS -> OCSF 1.8.0 translation (see ocsf_encoder.hpp). Only attributes and objects defined in the
// schema subset under shared/ocsf/1.8.0 are emitted (no `user`/`os` objects: not in that subset),
// so every output validates; the ECS document's ids and rule data are carried over unchanged.
#include "sinks/ocsf_encoder.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

namespace mw {

namespace {

using nlohmann::json;

const json& at(const json& doc, std::initializer_list<const char*> path) {
    static const json null_value;
    const json* cur = &doc;
    for (auto key : path) {
        if (!cur->is_object()) return null_value;
        auto it = cur->find(key);
        if (it == cur->end()) return null_value;
        cur = &*it;
    }
    return *cur;
}

std::string str(const json& j) { return j.is_string() ? j.get<std::string>() : std::string(); }

// RFC 3339 UTC ("2026-11-22T01:02:03.123456Z") -> epoch milliseconds (OCSF timestamp_t); -1 if malformed.
std::int64_t epoch_ms(const std::string& text) {
    std::tm tm{};
    int frac_digits = 0;
    std::int64_t frac = 0;
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) return -1;
    if (*end == '.') {
        for (++end; *end >= '0' && *end <= '9'; ++end)
            if (frac_digits < 3) frac = frac * 10 + (*end - '0'), ++frac_digits;
    }
    while (frac_digits < 3) frac *= 10, ++frac_digits;
    if (*end != 'Z') return -1;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + frac;
}

bool has(const json& list, const char* value) {
    if (!list.is_array()) return false;
    for (const auto& v : list)
        if (v.is_string() && v.get<std::string>() == value) return true;
    return false;
}

json ocsf_process(const json& p, bool with_parent) {
    json out = json::object();
    if (p.contains("pid") && p["pid"].is_number_integer()) out["pid"] = p["pid"];
    if (auto n = str(p.value("name", json())); !n.empty()) out["name"] = n;
    if (auto c = str(p.value("command_line", json())); !c.empty()) out["cmd_line"] = c;
    if (auto e = str(p.value("entity_id", json())); !e.empty()) out["uid"] = e;
    if (auto w = str(p.value("working_directory", json())); !w.empty()) out["working_directory"] = w;
    if (auto s = str(p.value("start", json())); !s.empty()) {
        if (auto ms = epoch_ms(s); ms >= 0) out["created_time"] = ms;
    }
    if (auto exe = str(p.value("executable", json())); !exe.empty()) {
        const auto slash = exe.rfind('/');
        out["file"] = {{"path", exe}, {"name", slash == std::string::npos ? exe : exe.substr(slash + 1)},
                       {"type_id", 1}, {"type", "Regular File"}};
    }
    if (with_parent && p.contains("parent") && p["parent"].is_object()) out["parent_process"] = ocsf_process(p["parent"], false);
    return out;
}

json ocsf_endpoint(const json& ep) {
    json out = json::object();
    if (auto ip = str(ep.value("ip", json())); !ip.empty()) out["ip"] = ip;
    if (ep.contains("port") && ep["port"].is_number_integer()) out["port"] = ep["port"];
    return out;
}

struct Activity {
    int id;
    const char* name;
};

Activity process_activity(const std::string& action) {
    if (action == "exec" || action == "fork" || action == "clone" || action == "start") return {1, "Launch"};
    if (action == "exit" || action == "end") return {2, "Terminate"};
    return {99, "Other"};
}

Activity file_activity(const std::string& action, const json& types) {
    if (has(types, "creation") || action == "create") return {1, "Create"};
    if (has(types, "deletion") || action == "unlink" || action == "delete") return {4, "Delete"};
    if (action == "rename") return {5, "Rename"};
    if (action == "chmod" || action == "chown") return {6, "Set Attributes"};
    if (has(types, "change") || action == "write" || action == "truncate") return {3, "Update"};
    if (action == "open" || action == "read" || has(types, "access")) return {2, "Read"};
    return {99, "Other"};
}

Activity network_activity(const std::string& action, bool failed) {
    if (failed && (action == "connect" || action == "accept")) return {4, "Fail"};
    if (action == "connect" || action == "accept") return {1, "Open"};
    if (action == "listen" || action == "bind") return {7, "Listen"};
    if (action == "send" || action == "sendmsg" || action == "sendto") return {6, "Traffic"};
    if (action == "close") return {2, "Close"};
    return {99, "Other"};
}

// ECS event.severity is the rule's 0..100 risk score (as Elastic's detection rules use it).
int severity_id(const json& severity) {
    if (!severity.is_number()) return 0;
    const auto s = severity.get<double>();
    if (s >= 90) return 5;
    if (s >= 70) return 4;
    if (s >= 40) return 3;
    return 2;
}

}  // namespace

Result<std::string> ecs_to_ocsf(std::string_view ecs_json) {
    const json ecs = json::parse(ecs_json, nullptr, false);
    if (!ecs.is_object()) return make_error("ocsf: the spooled event is not a JSON object", EINVAL);
    const std::string kind = str(at(ecs, {"event", "kind"}));
    const std::string action = str(at(ecs, {"event", "action"}));
    const std::string outcome = str(at(ecs, {"event", "outcome"}));
    const json& categories = at(ecs, {"event", "category"});
    const std::int64_t time = epoch_ms(str(ecs.value("@timestamp", json())));
    if (time < 0) return make_error("ocsf: the spooled event has no valid @timestamp", EINVAL);

    json out = json::object();
    out["time"] = time;
    json metadata = {{"version", "1.8.0"},
                     {"product", {{"name", "modelwarden"}, {"vendor_name", "modelwarden"}}},
                     {"log_name", str(at(ecs, {"event", "dataset"}))}};
    if (auto v = str(at(ecs, {"agent", "version"})); !v.empty()) metadata["product"]["version"] = v;
    if (auto id = str(at(ecs, {"event", "id"})); !id.empty()) metadata["uid"] = id;
    out["metadata"] = std::move(metadata);
    if (auto m = str(ecs.value("message", json())); !m.empty()) out["message"] = m;
    out["status_id"] = outcome == "success" ? 1 : outcome == "failure" ? 2 : 0;
    out["status"] = outcome == "success" ? "Success" : outcome == "failure" ? "Failure" : "Unknown";
    json device = {{"type_id", 1}, {"type", "Server"}};  // model-serving hosts
    if (auto h = str(at(ecs, {"host", "hostname"})); !h.empty()) device["hostname"] = h;
    if (auto n = str(at(ecs, {"host", "name"})); !n.empty()) device["name"] = n;
    if (auto id = str(at(ecs, {"host", "id"})); !id.empty()) device["uid"] = id;

    const json& proc = at(ecs, {"process"});
    int category_uid = 0, class_id = 0;
    const char *category_name = "", *class_name = "";
    Activity activity{99, "Other"};
    if (kind == "alert") {
        category_uid = 2, class_id = 4, category_name = "Findings", class_name = "Detection Finding";
        activity = {1, "Create"};
        const int sev = severity_id(at(ecs, {"event", "severity"}));
        out["severity_id"] = sev;
        json info = {{"uid", str(at(ecs, {"event", "id"}))}};
        const std::string rule_id = str(at(ecs, {"rule", "id"}));
        const std::string rule_name = str(at(ecs, {"rule", "name"}));
        info["title"] = !rule_name.empty() ? rule_name : str(ecs.value("message", json()));
        if (!rule_id.empty()) info["types"] = json::array({rule_id});
        if (auto d = str(at(ecs, {"rule", "description"})); !d.empty()) info["desc"] = d;
        if (auto c = str(at(ecs, {"event", "created"})); !c.empty()) {
            if (auto ms = epoch_ms(c); ms >= 0) info["created_time"] = ms;
        }
        out["finding_info"] = std::move(info);
        out["is_alert"] = true;
        out["device"] = std::move(device);
        out["status_id"] = 1;  // finding status: New
        out["status"] = "New";
    } else if (has(categories, "network")) {
        category_uid = 4, class_id = 1, category_name = "Network Activity", class_name = "Network Activity";
        activity = network_activity(action, outcome == "failure");
        out["severity_id"] = 1;
        const std::string direction = str(at(ecs, {"network", "direction"}));
        json conn = {{"direction_id", direction == "egress" ? 2 : direction == "ingress" ? 1 : 0}};
        conn["direction"] = direction == "egress" ? "Outbound" : direction == "ingress" ? "Inbound" : "Unknown";
        if (auto t = str(at(ecs, {"network", "transport"})); !t.empty()) conn["protocol_name"] = t;
        out["connection_info"] = std::move(conn);
        if (ecs.contains("source")) out["src_endpoint"] = ocsf_endpoint(ecs["source"]);
        if (ecs.contains("destination")) out["dst_endpoint"] = ocsf_endpoint(ecs["destination"]);
        // No `device` here: Network Activity has it only through the host profile, outside this subset.
    } else if (has(categories, "file")) {
        category_uid = 1, class_id = 1, category_name = "System Activity", class_name = "File System Activity";
        activity = file_activity(action, at(ecs, {"event", "type"}));
        out["severity_id"] = 1;
        const std::string path = str(at(ecs, {"file", "path"}));
        const auto slash = path.rfind('/');
        json file = {{"name", slash == std::string::npos ? path : path.substr(slash + 1)}, {"type_id", 0},
                     {"type", "Unknown"}};
        if (!path.empty()) file["path"] = path;
        out["file"] = std::move(file);
        out["actor"] = {{"process", proc.is_object() ? ocsf_process(proc, true) : json::object()}};
        out["device"] = std::move(device);
    } else if (has(categories, "process") || proc.is_object()) {
        category_uid = 1, class_id = 7, category_name = "System Activity", class_name = "Process Activity";
        activity = process_activity(action);
        out["severity_id"] = 1;
        out["process"] = proc.is_object() ? ocsf_process(proc, true) : json::object();
        // The actor of a launch is the parent that started the process.
        json actor_proc = proc.is_object() && proc.contains("parent") ? ocsf_process(proc["parent"], false) : json::object();
        out["actor"] = {{"process", std::move(actor_proc)}};
        if (proc.is_object() && proc.contains("exit_code") && proc["exit_code"].is_number_integer())
            out["exit_code"] = proc["exit_code"];
        out["device"] = std::move(device);
    } else {
        return make_error("ocsf: no OCSF class for this event (kind '" + kind + "', action '" + action + "')", EINVAL);
    }
    const int class_uid = category_uid * 1000 + class_id;
    out["category_uid"] = category_uid;
    out["category_name"] = category_name;
    out["class_uid"] = class_uid;
    out["class_name"] = class_name;
    out["activity_id"] = activity.id;
    out["activity_name"] = activity.name;
    out["type_uid"] = static_cast<std::int64_t>(class_uid) * 100 + activity.id;
    out["type_name"] = std::string(class_name) + ": " + activity.name;
    static const char* severities[] = {"Unknown", "Informational", "Low", "Medium", "High", "Critical", "Fatal"};
    out["severity"] = severities[out["severity_id"].get<int>()];
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool append_ocsf_or_ecs(std::string& out, std::string_view ecs_json, std::string& why) {
    auto ocsf = ecs_to_ocsf(ecs_json);
    if (!ocsf) {
        why = ocsf.error().message;
        out += ecs_json;
        return false;
    }
    out += *ocsf;
    return true;
}

}  // namespace mw
