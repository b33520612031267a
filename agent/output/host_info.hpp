// Host and agent facts for every emitted event, gathered once at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mw {

struct HostInfo {
    std::string hostname;        // ECS host.hostname (uname nodename)
    std::string name;            // ECS host.name (defaults to hostname)
    std::string id;              // /etc/machine-id
    std::string boot_id;         // /proc/sys/kernel/random/boot_id
    std::string architecture;    // uname machine
    std::string os_type = "linux";
    std::string os_family;       // os-release ID_LIKE or ID ("debian")
    std::string os_name;         // os-release NAME
    std::string os_version;      // os-release VERSION_ID
    std::string os_full;         // os-release PRETTY_NAME
    std::string os_platform;     // os-release ID
    std::string os_kernel;       // uname release
    // realtime ns = boot-clock ns + this; turns kernel start times into ECS dates.
    std::int64_t boot_to_realtime_ns = 0;
};

struct AgentInfo {
    std::string id;              // stable per host: derived from the machine id
    std::string name = "modelwarden";
    std::string type = "modelwarden";
    std::string version;
};

// `root` lets tests point at a fake filesystem ("/" in production). Unreadable facts stay empty.
HostInfo gather_host_info(std::string_view root = "/");
AgentInfo make_agent_info(const HostInfo& host, std::string_view version);

}  // namespace mw
