// Config keys that used to exist only as code defaults: sensors.open_cache and
// enforcement.fanotify_mark_mounts. Defaults, good values, and bad values rejected with
// path:line:column and what was wrong.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/config.hpp"

namespace {

struct TempConfig {
    std::string path;
    explicit TempConfig(const std::string& text) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mw-cfgkeys-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir = tmpl;
        path = dir + "/config.yaml";
        std::ofstream(path) << text;
    }
    ~TempConfig() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string dir;
};

}  // namespace

TEST_CASE("config keys: defaults keep the open cache on and mount marks off", "[config]") {
    const auto d = mw::default_agent_config();
    CHECK(d.open_cache == true);
    CHECK(d.fanotify_mark_mounts == false);
    TempConfig cfg("agent: {name: keys}\n");
    auto r = mw::load_agent_config(cfg.path);
    REQUIRE(r.ok());
    CHECK(r->open_cache == true);
    CHECK(r->fanotify_mark_mounts == false);
}

TEST_CASE("config keys: good values are taken", "[config]") {
    TempConfig cfg("sensors:\n"
                   "  open_cache: false\n"
                   "enforcement:\n"
                   "  fanotify_mark_mounts: true\n");
    auto r = mw::load_agent_config(cfg.path);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    CHECK(r->open_cache == false);
    CHECK(r->fanotify_mark_mounts == true);

    TempConfig back("sensors: {open_cache: true}\nenforcement: {fanotify_mark_mounts: false}\n");
    auto b = mw::load_agent_config(back.path);
    REQUIRE(b.ok());
    CHECK(b->open_cache == true);
    CHECK(b->fanotify_mark_mounts == false);
}

TEST_CASE("config keys: bad values name path:line:column", "[config]") {
    SECTION("open_cache not a boolean") {
        TempConfig cfg("sensors:\n  open_cache: maybe\n");
        auto r = mw::load_agent_config(cfg.path);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == cfg.path + ":2:15: `open_cache` must be true or false, got 'maybe'");
    }
    SECTION("open_cache spelled the YAML 1.1 way") {
        TempConfig cfg("sensors: {open_cache: yes}\n");
        auto r = mw::load_agent_config(cfg.path);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == cfg.path + ":1:23: `open_cache` must be true or false, got 'yes'");
    }
    SECTION("fanotify_mark_mounts a list") {
        TempConfig cfg("enforcement:\n  fanotify_mark_mounts: [true]\n");
        auto r = mw::load_agent_config(cfg.path);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == cfg.path + ":2:25: `fanotify_mark_mounts` must be true or false, got 'a list'");
    }
    SECTION("unknown key in enforcement") {
        TempConfig cfg("enforcement:\n  mark_mounts: true\n");
        auto r = mw::load_agent_config(cfg.path);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == cfg.path + ":2:3: unknown key `mark_mounts` in `enforcement`");
    }
    SECTION("sections that are scalars are errors, not crashes") {
        for (const char* section : {"agent", "sensors", "output", "spool", "control", "metrics", "audit"}) {
            TempConfig cfg(std::string(section) + ": 5\n");
            auto r = mw::load_agent_config(cfg.path);
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().message == cfg.path + ":1:" + std::to_string(std::string(section).size() + 3) + ": `" +
                                           section + "` must be a mapping");
        }
    }
    SECTION("enforcement not a mapping") {
        TempConfig cfg("enforcement: on\n");
        auto r = mw::load_agent_config(cfg.path);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == cfg.path + ":1:14: `enforcement` must be a mapping");
    }
}

TEST_CASE("config keys: the shipped packaging/config.yaml loads and documents the defaults", "[config]") {
    auto r = mw::load_agent_config(MW_SHIPPED_CONFIG);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    const auto d = mw::default_agent_config();
    CHECK(r->open_cache == d.open_cache);
    CHECK(r->fanotify_mark_mounts == d.fanotify_mark_mounts);
    CHECK(r->learn_syscalls == d.learn_syscalls);
    CHECK(r->seccomp_violations == d.seccomp_violations);
    CHECK(r->seccomp_dir == d.seccomp_dir);
    CHECK(r->ring_buffer_mib == 16);
}
