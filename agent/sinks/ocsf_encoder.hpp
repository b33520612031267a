// OCSF 1.8.0 shape for sinks with `format: ocsf`: the spool holds ECS lines, so the event is
// translated at send time from its ECS JSON (one encoder, one spool lane, any sink can choose).
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mw {

// ECS document (as EcsEncoder writes it) -> one OCSF event: Process Activity (1007), File System
// Activity (1001), Network Activity (4001), or Detection Finding (2004) for alerts.
Result<std::string> ecs_to_ocsf(std::string_view ecs_json);

}  // namespace mw
