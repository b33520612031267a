// The `sinks:` section of config.yaml: a list of SIEM and local outputs, each a spool consumer.
// Strict like the rest of the config (unknown keys are errors, every error names file:line:column);
// secrets come only from files (`*_file`) or environment variables (`*_env`) and are never logged.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.hpp"
#include "sinks/bulk_sink.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/hec_sink.hpp"
#include "sinks/syslog_sink.hpp"

namespace mw {

struct SinkConfig {
    std::string name;       // unique: it is also the sink's spool consumer (its cursor survives restarts)
    SinkFormat format = SinkFormat::Ecs;
    std::variant<HecOptions, BulkOptions, SyslogOptions, FileSinkOptions, StdoutSinkOptions> options;
    const char* type() const;  // "hec", "bulk", "syslog", "file", "stdout"
};

struct SinksConfig {
    std::vector<SinkConfig> sinks;
};

// `origin` names the config file in errors. Secret files and environment variables are read here,
// so a missing or empty secret is a config error at start, not a 401 later.
Result<SinksConfig> parse_sinks_config(const YAML::Node& sinks, const std::string& origin);

// "250ms", "30s", "5m", "1h" (a bare number is refused: the unit must be explicit).
Result<std::chrono::milliseconds> parse_config_duration(std::string_view text);

}  // namespace mw
