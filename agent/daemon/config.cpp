// Parsing of config.yaml (see config.hpp). Strict: a typo in a key is an error, not a default.
#include "daemon/config.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <set>

namespace mw {

namespace {

std::string where(const std::string& file, const YAML::Node& node) {
    const auto mark = node.Mark();
    return fmt::format("{}:{}:{}", file, mark.line + 1, mark.column + 1);
}

std::string hostname() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
    return buf.data();
}

struct Reader {
    const std::string& file;
    std::vector<std::string> errors;

    void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed, std::string_view section) {
        if (!map.IsMap()) {
            errors.push_back(fmt::format("{}: `{}` must be a mapping", where(file, map), section));
            return;
        }
        for (const auto& kv : map) {
            const auto key = kv.first.as<std::string>();
            bool known = false;
            for (auto a : allowed) known = known || key == a;
            if (!known) errors.push_back(fmt::format("{}: unknown key `{}` in `{}`", where(file, kv.first), key, section));
        }
    }

    template <class T>
    void get(const YAML::Node& map, const char* key, T& out) {
        if (!map.IsMap()) return;  // check_keys reported it; operator[] on a scalar would throw
        const auto node = map[key];
        if (!node) return;
        try {
            out = node.as<T>();
        } catch (const YAML::Exception&) {
            errors.push_back(fmt::format("{}: `{}` has the wrong type", where(file, node), key));
        }
    }

    // YAML 1.2 booleans only: "yes"/"on" read as true elsewhere, and a switch that decides
    // enforcement coverage should not depend on which spelling the parser accepts.
    void get_bool(const YAML::Node& map, const char* key, bool& out) {
        if (!map.IsMap()) return;
        const auto node = map[key];
        if (!node) return;
        const std::string text = node.IsScalar() ? node.Scalar() : std::string();
        if (node.IsScalar() && (text == "true" || text == "false")) {
            out = text == "true";
            return;
        }
        errors.push_back(fmt::format("{}: `{}` must be true or false, got '{}'", where(file, node), key,
                                     node.IsScalar() ? text : "a " + std::string(node.IsMap() ? "mapping" : "list")));
    }

    void get_list(const YAML::Node& map, const char* key, std::vector<std::string>& out) {
        if (!map.IsMap()) return;
        const auto node = map[key];
        if (!node) return;
        if (node.IsScalar()) {
            out = {node.as<std::string>()};
            return;
        }
        if (!node.IsSequence()) {
            errors.push_back(fmt::format("{}: `{}` must be a list of strings", where(file, node), key));
            return;
        }
        out.clear();
        for (const auto& item : node) {
            if (!item.IsScalar()) {
                errors.push_back(fmt::format("{}: `{}` entries must be strings", where(file, item), key));
                continue;
            }
            out.push_back(item.as<std::string>());
        }
    }
};

Error joined_error(const std::vector<std::string>& errors) {
    std::string all;
    for (const auto& e : errors) {
        if (!all.empty()) all += '\n';
        all += e;
    }
    return make_error(std::move(all));
}

}  // namespace

std::string config_position(const AgentConfig& config, const YAML::Node& node) {
    const std::string file = config.source.empty() ? "the default config" : config.source;
    if (!node || node.Mark().is_null()) return file;
    return where(file, node);
}

AgentConfig default_agent_config() {
    AgentConfig config;
    config.agent_name = hostname();
    config.policy_paths = {"/etc/modelwarden/policies"};
    return config;
}

Result<AgentConfig> load_agent_config(const std::string& path) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        return make_error(fmt::format("{}: cannot read config file", path));
    } catch (const YAML::ParserException& e) {
        return make_error(fmt::format("{}:{}:{}: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg));
    }
    AgentConfig config = default_agent_config();
    config.source = path;
    if (root.IsNull()) return config;

    Reader r{path, {}};
    r.check_keys(root, {"agent", "policies", "sensors", "enforcement", "output", "spool", "sinks", "control", "metrics",
                        "audit"},
                 "config");
    if (!r.errors.empty()) return joined_error(r.errors);
    if (auto agent = root["agent"]) {
        r.check_keys(agent, {"name", "pin_dir", "fail_mode", "lost_report_seconds", "reap_grace_seconds"}, "agent");
        r.get(agent, "name", config.agent_name);
        r.get(agent, "pin_dir", config.pin_dir);
        r.get(agent, "fail_mode", config.fail_mode);
        if (config.fail_mode != "open" && config.fail_mode != "closed" && config.fail_mode != "off")
            r.errors.push_back(fmt::format("{}: fail_mode must be open, closed or off", where(path, agent["fail_mode"])));
        r.get(agent, "lost_report_seconds", config.lost_report_seconds);
        r.get(agent, "reap_grace_seconds", config.reap_grace_seconds);
    }
    r.get_list(root, "policies", config.policy_paths);
    if (auto sensors = root["sensors"]) {
        r.check_keys(sensors, {"ring_buffer_mib", "learn_syscalls", "seccomp_violations", "seccomp_dir", "open_cache"},
                     "sensors");
        r.get_bool(sensors, "open_cache", config.open_cache);
        r.get(sensors, "ring_buffer_mib", config.ring_buffer_mib);
        r.get(sensors, "learn_syscalls", config.learn_syscalls);
        r.get(sensors, "seccomp_violations", config.seccomp_violations);
        r.get(sensors, "seccomp_dir", config.seccomp_dir);
        if (config.ring_buffer_mib == 0 || config.ring_buffer_mib > 1024 ||
            (config.ring_buffer_mib & (config.ring_buffer_mib - 1)) != 0)
            r.errors.push_back(fmt::format("{}: ring_buffer_mib must be a power of two between 1 and 1024",
                                           where(path, sensors)));
    }
    if (auto enforcement = root["enforcement"]) {
        r.check_keys(enforcement, {"fanotify_mark_mounts"}, "enforcement");
        r.get_bool(enforcement, "fanotify_mark_mounts", config.fanotify_mark_mounts);
    }
    if (auto output = root["output"]) {
        r.check_keys(output, {"stdout", "events_file"}, "output");
        r.get(output, "stdout", config.stdout_events);
        r.get(output, "events_file", config.events_file);
    }
    if (auto spool = root["spool"]) {
        r.check_keys(spool, {"dir"}, "spool");
        r.get(spool, "dir", config.spool_dir);
    }
    if (auto sinks = root["sinks"]) config.sinks = sinks;
    if (auto control = root["control"]) {
        r.check_keys(control, {"socket", "tls", "policy_keys"}, "control");
        r.get(control, "socket", config.control_socket);
        r.get(control, "policy_keys", config.policy_keys_dir);
        if (auto tls = control.IsMap() ? control["tls"] : YAML::Node(); tls && !tls.IsNull()) {
            r.check_keys(tls, {"address", "port", "cert", "key", "client_ca", "crl", "trust_domain", "operator_ou",
                               "viewer_ou"},
                         "control.tls");
            config.control_tls = tls;
        }
    }
    if (auto metrics = root["metrics"]) {
        r.check_keys(metrics, {"listen"}, "metrics");
        r.get(metrics, "listen", config.metrics_listen);
        if (const auto& listen = config.metrics_listen; !listen.empty()) {
            const auto colon = listen.rfind(':');
            const auto port = colon == std::string::npos ? std::string() : listen.substr(colon + 1);
            const bool digits = !port.empty() && port.size() <= 5 &&
                                port.find_first_not_of("0123456789") == std::string::npos;
            if (colon == std::string::npos || colon == 0 || !digits || std::stoul(port) == 0 || std::stoul(port) > 65535)
                r.errors.push_back(fmt::format("{}: `listen` must be ADDRESS:PORT with a port from 1 to 65535, got '{}'",
                                               where(path, metrics["listen"]), listen));
        }
    }
    if (auto audit = root["audit"]) {
        r.check_keys(audit, {"path", "key", "checkpoint_seconds"}, "audit");
        r.get(audit, "path", config.audit_log);
        r.get(audit, "key", config.audit_key);
        r.get(audit, "checkpoint_seconds", config.audit_checkpoint_seconds);
    }
    if (!r.errors.empty()) return joined_error(r.errors);
    return config;
}

}  // namespace mw
