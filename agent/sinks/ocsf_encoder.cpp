// ECS -> OCSF 1.8.0 translation (see ocsf_encoder.hpp).
#include "sinks/ocsf_encoder.hpp"

namespace mw {

Result<std::string> ecs_to_ocsf(std::string_view) { return make_error("ocsf: encoder not built yet", ENOSYS); }

}  // namespace mw
