// Self-protection: the agent names itself to the kernel (its threads, the (dev, inode) and
// path of every file it depends on, its own BPF links and programs) so that anyone else who
// signals, traces, rewrites or detaches it is reported (bpf/self_protect.bpf.c).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace mw::sensors {
class Sensors;
}

namespace mw::selfprotect {

// What to protect. Empty strings are skipped; a path that does not exist is skipped with a
// warning (the spool or audit log may be created later: its directory is protected then).
struct ProtectedPaths {
    std::string binary;                  // the agent's executable (/proc/self/exe)
    std::vector<std::string> config;     // config file(s) and /etc/modelwarden
    std::string pin_dir;                 // bpffs pins (maps/, links/ under it)
    std::string spool_dir;
    std::string audit_log;
};

struct Protection {
    std::size_t inodes = 0;              // (dev, inode) entries
    std::size_t prefixes = 0;            // path-prefix entries
    std::size_t bpf_objects = 0;         // own links + programs
    std::size_t threads = 0;             // agent threads registered
};

// Before Sensors::load(): switches the self-protection programs on (they are off by default,
// so other users of the skeleton never load them) and sets the agent's process group. The
// BPF-LSM programs load only when `lsm` (the probe loaded one).
Result<void> configure(sensors::Sensors& sensors, bool lsm);

// After Sensors::load(): empties the maps adopted from a previous agent's pins, so its
// still-attached programs do not report this agent replacing them.
Result<void> reset(sensors::Sensors& sensors);

// After Sensors::attach(): fills the maps. Errors name the object that could not be added.
Result<Protection> protect(sensors::Sensors& sensors, const ProtectedPaths& paths);

// A clean stop: forgets everything, so programs left pinned (fail_mode closed) do not
// report the package upgrade or the next agent as tampering.
void release(sensors::Sensors& sensors);

}  // namespace mw::selfprotect
