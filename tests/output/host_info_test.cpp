// HostInfo gathering from a fake root, and the derived agent id.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "output/host_info.hpp"

using namespace mw;

namespace {

struct FakeRoot {
    std::filesystem::path path;
    FakeRoot() {
        char tmpl[] = "/tmp/mw-host-test-XXXXXX";
        path = ::mkdtemp(tmpl);
        std::filesystem::create_directories(path / "etc");
        std::filesystem::create_directories(path / "proc/sys/kernel/random");
    }
    ~FakeRoot() { std::filesystem::remove_all(path); }
    void write(const std::string& rel, const std::string& text) { std::ofstream(path / rel) << text; }
};

}  // namespace

TEST_CASE("host facts come from os-release, machine-id and boot_id", "[output][host]") {
    FakeRoot root;
    root.write("etc/os-release",
               "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
               "ID=debian\nHOME_URL=\"https://www.debian.org/\"\ngarbage line without equals\n");
    root.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    root.write("proc/sys/kernel/random/boot_id", "6f1c3a52-8b1e-4f3e-9d7c-2a4b5c6d7e8f\n");
    HostInfo h = gather_host_info(root.path.string());
    CHECK(h.os_full == "Debian GNU/Linux 12 (bookworm)");
    CHECK(h.os_name == "Debian GNU/Linux");
    CHECK(h.os_version == "12");
    CHECK(h.os_platform == "debian");
    CHECK(h.os_family == "debian");
    CHECK(h.os_type == "linux");
    CHECK(h.id == "0123456789abcdef0123456789abcdef");
    CHECK(h.boot_id == "6f1c3a52-8b1e-4f3e-9d7c-2a4b5c6d7e8f");
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    CHECK(h.hostname == name);
    CHECK(h.name == name);
    CHECK(h.boot_to_realtime_ns > 0);
}

TEST_CASE("ID_LIKE names the family of derived distributions", "[output][host]") {
    FakeRoot root;
    root.write("etc/os-release", "ID=ubuntu\nID_LIKE=\"debian fedora\"\n");
    CHECK(gather_host_info(root.path.string()).os_family == "debian");
}

TEST_CASE("missing host files leave facts empty instead of failing", "[output][host]") {
    FakeRoot root;
    HostInfo h = gather_host_info(root.path.string());
    CHECK(h.id.empty());
    CHECK(h.boot_id.empty());
    CHECK(h.os_name.empty());
    CHECK(h.os_family.empty());
}

TEST_CASE("agent id is a stable UUID derived from the host", "[output][host]") {
    HostInfo h;
    h.id = "0123456789abcdef0123456789abcdef";
    h.hostname = "gpu-node-1";
    AgentInfo a = make_agent_info(h, "0.1.0");
    CHECK(std::regex_match(a.id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
    CHECK(make_agent_info(h, "0.2.0").id == a.id);
    CHECK(a.version == "0.1.0");
    CHECK(a.type == "modelwarden");
    h.id = "fedcba9876543210fedcba9876543210";
    CHECK(make_agent_info(h, "0.1.0").id != a.id);
}
