// systemd notification wrapper (Type=notify, WatchdogSec): no-ops when not run by systemd.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "common/result.hpp"

namespace mw {

// Each returns true when systemd was notified, false when NOTIFY_SOCKET is unset (not under
// systemd), or an error naming the errno text when sending failed.
Result<bool> notify_ready(std::string_view status = {});
Result<bool> notify_watchdog();
Result<bool> notify_reloading();
Result<bool> notify_stopping();
Result<bool> notify_status(std::string_view status);

// The WatchdogSec systemd gave this process (WATCHDOG_USEC for our pid), or nullopt. Ping at
// half this interval: systemd kills the service when a full interval passes without one.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace mw
