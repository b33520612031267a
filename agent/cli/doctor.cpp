// `modelwarden doctor` (see doctor.hpp).
#include "cli/doctor.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <ostream>

#include "sensors/features.hpp"

namespace mw {

int run_doctor(std::ostream& out) {
    if (::geteuid() != 0) out << "note: not root: load probes need CAP_BPF/CAP_SYS_ADMIN and will report 'no'\n";
    const auto features = sensors::probe();
    fmt::print(out, "kernel features:\n{}", features);
    return 0;
}

}  // namespace mw
