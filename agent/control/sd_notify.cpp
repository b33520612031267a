// libsystemd sd_notify/sd_watchdog_enabled behind Result-returning calls.
#include "control/sd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

namespace mw {
namespace {

Result<bool> send(const std::string& state) {
    // unset_environment = 0: children we spawn never inherit NOTIFY_SOCKET anyway (we do not spawn).
    int rc = sd_notify(0, state.c_str());
    if (rc < 0) return make_error("systemd: sd_notify(" + state.substr(0, state.find('\n')) + ") failed: " + std::strerror(-rc), -rc);
    return rc > 0;
}

std::string with_status(std::string state, std::string_view status) {
    if (!status.empty()) state += "\nSTATUS=" + std::string(status);
    return state;
}

}  // namespace

Result<bool> notify_ready(std::string_view status) { return send(with_status("READY=1", status)); }
Result<bool> notify_watchdog() { return send("WATCHDOG=1"); }
Result<bool> notify_reloading() { return send("RELOADING=1"); }
Result<bool> notify_stopping() { return send("STOPPING=1"); }
Result<bool> notify_status(std::string_view status) { return send("STATUS=" + std::string(status)); }

std::optional<std::chrono::microseconds> watchdog_interval() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
    return std::nullopt;
}

}  // namespace mw
