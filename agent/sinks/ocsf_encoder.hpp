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

// Appends the OCSF form of `ecs_json`, or the ECS document unchanged when it has no OCSF class
// (pipeline errors, the spool's loss reports): those must still reach the SIEM, never be dropped.
// Returns false (with the reason) when it fell back to ECS.
bool append_ocsf_or_ecs(std::string& out, std::string_view ecs_json, std::string& why);

}  // namespace mw
