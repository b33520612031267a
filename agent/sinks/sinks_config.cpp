// Parsing of the `sinks:` section (see sinks_config.hpp). Collects every error before failing,
// so one run of `modelwarden run --config` shows all the typos at once.
#include "sinks/sinks_config.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mw {

namespace {

std::string where(const std::string& origin, const YAML::Node& node) {
    const auto mark = node.Mark();
    if (mark.is_null()) return origin;
    return fmt::format("{}:{}:{}", origin, mark.line + 1, mark.column + 1);
}

struct Reader {
    const std::string& origin;
    std::vector<std::string> errors;
    std::string context;  // "sinks[0] (splunk)"

    void error(const YAML::Node& at, std::string_view what) {
        errors.push_back(fmt::format("{}: {}: {}", where(origin, at), context, what));
    }

    bool check_keys(const YAML::Node& map, const std::set<std::string>& allowed, std::string_view section) {
        if (!map.IsMap()) {
            error(map, fmt::format("`{}` must be a mapping", section));
            return false;
        }
        for (const auto& kv : map) {
            const auto key = kv.first.as<std::string>();
            if (allowed.count(key)) continue;
            // The config file is often world-readable and copied into tickets: no inline secrets.
            static const std::set<std::string> secrets{"token", "api_key", "password", "key_password"};
            if (secrets.count(key))
                error(kv.first, fmt::format("`{0}` may not be written in the config: use `{0}_file` (a file holding "
                                            "it) or `{0}_env` (an environment variable name)", key));
            else
                error(kv.first, fmt::format("unknown key `{}` in `{}`", key, section));
        }
        return true;
    }

    template <class T>
    void get(const YAML::Node& map, const char* key, T& out) {
        const auto node = map[key];
        if (!node) return;
        if (!node.IsScalar()) {
            error(node, fmt::format("`{}` must be a single value", key));
            return;
        }
        try {
            out = node.as<T>();
        } catch (const YAML::Exception&) {
            error(node, fmt::format("`{}` has the wrong type", key));
        }
    }

    void get_string(const YAML::Node& map, const char* key, std::string& out) { get(map, key, out); }

    void get_duration(const YAML::Node& map, const char* key, std::chrono::milliseconds& out) {
        const auto node = map[key];
        if (!node) return;
        if (!node.IsScalar()) {
            error(node, fmt::format("`{}` must be a duration such as 500ms, 30s or 5m", key));
            return;
        }
        auto d = parse_config_duration(node.Scalar());
        if (!d) error(node, fmt::format("`{}`: {}", key, d.error().message));
        else out = *d;
    }

    // A secret from `<key>_file` or `<key>_env`; exactly one when `required`.
    void get_secret(const YAML::Node& map, const std::string& key, std::string& out, bool required) {
        const auto file = map[key + "_file"];
        const auto env = map[key + "_env"];
        if (file && env) {
            error(env, fmt::format("set either `{0}_file` or `{0}_env`, not both", key));
            return;
        }
        if (!file && !env) {
            if (required) error(map, fmt::format("`{0}_file` or `{0}_env` is required", key));
            return;
        }
        const auto& node = file ? file : env;
        if (!node.IsScalar() || node.Scalar().empty()) {
            error(node, fmt::format("`{}_{}` must be a non-empty string", key, file ? "file" : "env"));
            return;
        }
        const std::string ref = node.Scalar();
        if (env) {
            const char* value = std::getenv(ref.c_str());
            if (!value || !*value) {
                error(node, fmt::format("environment variable `{}` (for `{}`) is not set or empty", ref, key));
                return;
            }
            out = value;
            return;
        }
        struct stat st {};
        if (::stat(ref.c_str(), &st) != 0) {
            error(node, fmt::format("cannot read {} file {}: {}", key, ref, std::strerror(errno)));
            return;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > 65536) {
            error(node, fmt::format("{} file {} must be a regular file of at most 64 KiB", key, ref));
            return;
        }
        std::ifstream in(ref, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        if (!in) {
            error(node, fmt::format("cannot read {} file {}", key, ref));
            return;
        }
        std::string value = ss.str();
        // Files written with `echo` end in a newline that is not part of the token.
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ' ||
                                  value.back() == '\t'))
            value.pop_back();
        if (value.empty()) {
            error(node, fmt::format("{} file {} is empty", key, ref));
            return;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO))
            spdlog::warn("sinks: {}: {} file {} is accessible to group or others (mode {:o}); make it 0600",
                         context, key, ref, st.st_mode & 0777);
        out = std::move(value);
    }

    void get_tls(const YAML::Node& sink, TlsOptions& tls) {
        const auto node = sink["tls"];
        if (!node) return;
        if (!check_keys(node, {"ca_file", "cert_file", "key_file", "key_password_file", "key_password_env",
                               "server_name", "insecure_skip_verify"}, "tls"))
            return;
        get_string(node, "ca_file", tls.ca_file);
        get_string(node, "cert_file", tls.cert_file);
        get_string(node, "key_file", tls.key_file);
        get_secret(node, "key_password", tls.key_password, false);
        get_string(node, "server_name", tls.server_name);
        bool insecure = false;
        get(node, "insecure_skip_verify", insecure);
        tls.verify = !insecure;
        if (tls.cert_file.empty() != tls.key_file.empty())
            error(node, "`cert_file` and `key_file` go together (mutual TLS needs both)");
    }

    void get_batch(const YAML::Node& sink, BatchOptions& b) {
        const auto node = sink["batch"];
        if (!node) return;
        if (!check_keys(node, {"max_events", "max_bytes", "idle_poll"}, "batch")) return;
        get(node, "max_events", b.max_events);
        get(node, "max_bytes", b.max_bytes);
        get_duration(node, "idle_poll", b.idle_poll);
        if (b.max_events == 0) error(node["max_events"], "`max_events` must be at least 1");
        if (b.max_bytes < 1024) error(node["max_bytes"], "`max_bytes` must be at least 1024");
    }

    void get_retry(const YAML::Node& sink, RetryOptions& r) {
        const auto node = sink["retry"];
        if (!node) return;
        if (!check_keys(node, {"initial", "max", "auth_retry"}, "retry")) return;
        get_duration(node, "initial", r.initial);
        get_duration(node, "max", r.max);
        get_duration(node, "auth_retry", r.auth_retry);
        if (r.initial.count() <= 0 || r.max < r.initial)
            error(node, "`initial` must be positive and not above `max`");
    }

    void get_gzip_level(const YAML::Node& sink, int& level) {
        get(sink, "gzip_level", level);
        if (level < 1 || level > 9) error(sink["gzip_level"], "`gzip_level` must be 1..9");
    }

    // batch and retry: every sink spools and retries the same way.
    template <class Options>
    void get_delivery(const YAML::Node& sink, Options& o) {
        get_batch(sink, o.batch);
        get_retry(sink, o.retry);
    }

    // What the two HTTP sinks (hec, bulk) share: compression, the request timeout, TLS, delivery.
    template <class Options>
    void get_http_transfer(const YAML::Node& sink, Options& o) {
        get(sink, "gzip", o.gzip);
        get_gzip_level(sink, o.gzip_level);
        get_duration(sink, "timeout", o.timeout);
        get_tls(sink, o.tls);
        get_delivery(sink, o);
    }
};

const std::set<std::string> kCommon{"type", "name", "format", "batch", "retry"};

std::set<std::string> keys(std::initializer_list<const char*> extra, bool dead_letter = true) {
    std::set<std::string> out = kCommon;
    for (auto k : extra) out.insert(k);
    if (dead_letter) out.insert("dead_letter");
    return out;
}

bool valid_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return name != "." && name != "..";
}

}  // namespace

const char* SinkConfig::type() const {
    static constexpr const char* names[] = {"hec", "bulk", "syslog", "file", "stdout"};
    return names[options.index()];
}

Result<std::chrono::milliseconds> parse_config_duration(std::string_view text) {
    std::uint64_t n = 0;
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, n);
    if (ec != std::errc{} || p == text.data())
        return make_error(fmt::format("'{}' is not a duration (a number then ms, s, m or h)", text), EINVAL);
    const std::string_view unit(p, static_cast<std::size_t>(end - p));
    std::uint64_t scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else return make_error(fmt::format("'{}' needs a unit: ms, s, m or h", text), EINVAL);
    if (n > (std::uint64_t{1} << 40) / scale) return make_error(fmt::format("'{}' is too long", text), ERANGE);
    return std::chrono::milliseconds(static_cast<std::int64_t>(n * scale));
}

Result<SinksConfig> parse_sinks_config(const YAML::Node& sinks, const std::string& origin) {
    SinksConfig config;
    Reader r{origin, {}, "sinks"};
    if (!sinks || sinks.IsNull()) return config;
    if (!sinks.IsSequence()) {
        r.error(sinks, "`sinks` must be a list of sinks (each `- type: hec|bulk|syslog|file|stdout`)");
        return make_error(r.errors.front(), EINVAL);
    }
    std::set<std::string> names;
    std::size_t index = 0;
    for (const auto& node : sinks) {
        r.context = fmt::format("sinks[{}]", index++);
        if (!node.IsMap()) {
            r.error(node, "each sink must be a mapping with at least `type`");
            continue;
        }
        std::string type;
        if (!node["type"]) {
            r.error(node, "`type` is required (hec, bulk, syslog, file or stdout)");
            continue;
        }
        r.get_string(node, "type", type);
        SinkConfig sink;
        // The spool cursor is keyed by name: default to the type, so one sink of a kind needs none.
        sink.name = type;
        r.get_string(node, "name", sink.name);
        if (!valid_name(sink.name)) {
            r.error(node["name"] ? node["name"] : node,
                    fmt::format("sink name '{}' must be 1-64 letters, digits, '-', '_' or '.'", sink.name));
        } else if (!names.insert(sink.name).second) {
            r.error(node["name"] ? node["name"] : node,
                    fmt::format("sink name '{}' is used twice (names are spool cursors: give each sink its own)",
                                sink.name));
        }
        r.context = fmt::format("sinks[{}] ({})", index - 1, sink.name);
        if (const auto f = node["format"]) {
            std::string format;
            r.get_string(node, "format", format);
            if (format == "ecs") sink.format = SinkFormat::Ecs;
            else if (format == "ocsf") sink.format = SinkFormat::Ocsf;
            else r.error(f, fmt::format("format '{}' must be ecs or ocsf", format));
        }
        std::string dead_letter;
        r.get_string(node, "dead_letter", dead_letter);

        if (type == "hec") {
            r.check_keys(node, keys({"url", "token_file", "token_env", "host", "source", "sourcetype", "index", "ack",
                                     "channel", "ack_poll", "ack_timeout", "gzip", "gzip_level", "timeout", "tls"}),
                         "hec sink");
            HecOptions o;
            o.name = sink.name;
            r.get_string(node, "url", o.url);
            if (o.url.empty()) r.error(node, "`url` is required (e.g. https://splunk.example:8088)");
            r.get_secret(node, "token", o.token, true);
            r.get_string(node, "host", o.host);
            r.get_string(node, "source", o.source);
            r.get_string(node, "sourcetype", o.sourcetype);
            r.get_string(node, "index", o.index);
            r.get(node, "ack", o.ack);
            r.get_string(node, "channel", o.channel);
            r.get_duration(node, "ack_poll", o.ack_poll);
            r.get_duration(node, "ack_timeout", o.ack_timeout);
            r.get_http_transfer(node, o);
            o.ocsf = sink.format == SinkFormat::Ocsf;
            o.dead_letter_path = dead_letter;
            sink.options = std::move(o);
        } else if (type == "bulk") {
            r.check_keys(node, keys({"url", "api_key_file", "api_key_env", "username", "password_file", "password_env",
                                     "alerts_stream", "events_stream", "gzip", "gzip_level", "timeout", "tls"}),
                         "bulk sink");
            BulkOptions o;
            o.name = sink.name;
            r.get_string(node, "url", o.url);
            if (o.url.empty()) r.error(node, "`url` is required (e.g. https://es.example:9200)");
            r.get_secret(node, "api_key", o.api_key, false);
            r.get_string(node, "username", o.username);
            r.get_secret(node, "password", o.password, !o.username.empty());
            if (o.username.empty() && !o.password.empty()) r.error(node, "a password needs `username`");
            if (!o.api_key.empty() && !o.username.empty())
                r.error(node, "set either an API key or username/password, not both");
            if (o.api_key.empty() && o.username.empty() && !node["api_key_file"] && !node["api_key_env"])
                r.error(node, "credentials are required: `api_key_file`/`api_key_env` or `username` with "
                              "`password_file`/`password_env`");
            r.get_string(node, "alerts_stream", o.alerts_stream);
            r.get_string(node, "events_stream", o.events_stream);
            r.get_http_transfer(node, o);
            o.dead_letter_path = dead_letter;
            sink.options = std::move(o);
        } else if (type == "syslog") {
            r.check_keys(node, keys({"transport", "host", "port", "facility", "app_name", "hostname", "max_udp_bytes",
                                     "timeout", "tls_settle", "tls"}),
                         "syslog sink");
            SyslogOptions o;
            o.name = sink.name;
            std::string transport = "tls";
            r.get_string(node, "transport", transport);
            if (transport == "tls") o.transport = SyslogTransport::Tls;
            else if (transport == "tcp") o.transport = SyslogTransport::Tcp, o.port = "514";
            else if (transport == "udp") o.transport = SyslogTransport::Udp, o.port = "514";
            else r.error(node["transport"], fmt::format("transport '{}' must be tls, tcp or udp", transport));
            r.get_string(node, "host", o.host);
            if (o.host.empty()) r.error(node, "`host` is required");
            r.get_string(node, "port", o.port);
            unsigned port = 0;
            auto [p, ec] = std::from_chars(o.port.data(), o.port.data() + o.port.size(), port);
            if (ec != std::errc{} || p != o.port.data() + o.port.size() || port == 0 || port > 65535)
                r.error(node["port"] ? node["port"] : node, fmt::format("port '{}' must be 1..65535", o.port));
            r.get(node, "facility", o.facility);
            if (o.facility < 0 || o.facility > 23) r.error(node["facility"], "`facility` must be 0..23");
            r.get_string(node, "app_name", o.app_name);
            r.get_string(node, "hostname", o.hostname);
            r.get(node, "max_udp_bytes", o.max_udp_bytes);
            r.get_duration(node, "timeout", o.timeout);
            r.get_duration(node, "tls_settle", o.tls_settle);
            if (node["tls"] && o.transport != SyslogTransport::Tls)
                r.error(node["tls"], "`tls` settings need `transport: tls`");
            r.get_tls(node, o.tls);
            r.get_delivery(node, o);
            o.dead_letter_path = dead_letter;
            sink.options = std::move(o);
        } else if (type == "file") {
            r.check_keys(node, keys({"path", "max_bytes", "keep", "fsync"}), "file sink");
            FileSinkOptions o;
            o.name = sink.name;
            r.get_string(node, "path", o.path);
            if (o.path.empty()) r.error(node, "`path` is required");
            r.get(node, "max_bytes", o.max_bytes);
            if (o.max_bytes != 0 && o.max_bytes < 4096) r.error(node["max_bytes"], "`max_bytes` must be 0 or >= 4096");
            r.get(node, "keep", o.keep);
            if (o.keep > 1000) r.error(node["keep"], "`keep` must be 0..1000");
            r.get(node, "fsync", o.fsync);
            r.get_delivery(node, o);
            o.format = sink.format;
            o.dead_letter_path = dead_letter;
            sink.options = std::move(o);
        } else if (type == "stdout") {
            r.check_keys(node, keys({}, false), "stdout sink");
            StdoutSinkOptions o;
            o.name = sink.name;
            r.get_delivery(node, o);
            o.format = sink.format;
            sink.options = std::move(o);
        } else {
            r.error(node["type"], fmt::format("unknown sink type '{}' (hec, bulk, syslog, file or stdout)", type));
            continue;
        }
        if (sink.format == SinkFormat::Ocsf && type != "file" && type != "stdout" && type != "hec")
            r.error(node["format"], fmt::format("format: ocsf is supported by hec, file and stdout sinks, not {}", type));
        config.sinks.push_back(std::move(sink));
    }
    if (!r.errors.empty()) {
        std::string all;
        for (const auto& e : r.errors) {
            if (!all.empty()) all += '\n';
            all += e;
        }
        return make_error(std::move(all), EINVAL);
    }
    return config;
}

}  // namespace mw
