// Glob syntax, matching and ~ expansion.
#include <catch2/catch.hpp>

#include "policy/glob.hpp"

using mw::policy::Glob;

static Glob g(const char* p) {
    auto r = Glob::compile(p);
    REQUIRE(r.ok());
    return *r;
}

TEST_CASE("policy glob: star stays inside one component", "[policy][glob]") {
    auto x = g("/usr/bin/python3*");
    CHECK(x.match("/usr/bin/python3"));
    CHECK(x.match("/usr/bin/python3.11"));
    CHECK_FALSE(x.match("/usr/bin/python3/evil"));
    CHECK_FALSE(x.match("/usr/bin/python"));
    CHECK(x.literal_prefix() == "/usr/bin/python3");
    CHECK_FALSE(x.is_literal());
    CHECK_FALSE(x.is_subtree());
    auto y = g("/proc/*/mem");
    CHECK(y.match("/proc/123/mem"));
    CHECK(y.match("/proc/self/mem"));
    CHECK_FALSE(y.match("/proc/1/task/2/mem"));
    CHECK_FALSE(y.match("/proc/123/memx"));
    CHECK(y.literal_prefix() == "/proc/");
}

TEST_CASE("policy glob: double star crosses components", "[policy][glob]") {
    auto x = g("/opt/models/**");
    CHECK(x.is_subtree());
    CHECK(x.literal_prefix() == "/opt/models/");
    CHECK(x.match("/opt/models/a.pt"));
    CHECK(x.match("/opt/models/x/y/z.pt"));
    CHECK_FALSE(x.match("/opt/models"));
    CHECK_FALSE(x.match("/opt/modelsx/a"));
    auto y = g("/home/**/.ssh/id_*");
    CHECK(y.match("/home/a/.ssh/id_rsa"));
    CHECK(y.match("/home/a/b/c/.ssh/id_ed25519"));
    CHECK(y.match("/home/.ssh/id_rsa"));  // `/**/` matches zero directories too
    CHECK_FALSE(y.match("/home/a/.ssh/known_hosts"));
    auto z = g("/var/**.log");
    CHECK(z.match("/var/a/b.log"));
    CHECK_FALSE(z.match("/var/a/b.txt"));
}

TEST_CASE("policy glob: question mark, classes and escapes", "[policy][glob]") {
    auto q = g("/dev/tty?");
    CHECK(q.match("/dev/tty1"));
    CHECK_FALSE(q.match("/dev/tty"));
    CHECK_FALSE(q.match("/dev/tty12"));
    CHECK_FALSE(g("/a?b").match("/a/b"));
    auto c = g("/dev/sd[a-c][0-9]");
    CHECK(c.match("/dev/sdb3"));
    CHECK_FALSE(c.match("/dev/sdd3"));
    auto n = g("/x/[!ab]");
    CHECK(n.match("/x/c"));
    CHECK_FALSE(n.match("/x/a"));
    CHECK_FALSE(n.match("/x//"));  // a negated class still never matches '/'
    auto caret = g("/x/[^a]");
    CHECK(caret.match("/x/b"));
    CHECK_FALSE(caret.match("/x/a"));
    auto bracket = g("/x/[]]");
    CHECK(bracket.match("/x/]"));
    auto e = g("/x/\\*");
    CHECK(e.is_literal());
    CHECK(e.match("/x/*"));
    CHECK_FALSE(e.match("/x/a"));
}

TEST_CASE("policy glob: literal patterns match exactly one path", "[policy][glob]") {
    auto x = g("/etc/shadow");
    CHECK(x.is_literal());
    CHECK(x.match("/etc/shadow"));
    CHECK_FALSE(x.match("/etc/shadow-"));
    CHECK_FALSE(x.match("/etc/shado"));
}

TEST_CASE("policy glob: bad patterns are errors", "[policy][glob]") {
    CHECK(Glob::compile("").error().message == "empty glob");
    CHECK(Glob::compile("/a/[bc").error().message == "glob '/a/[bc': unterminated [");
    CHECK(Glob::compile("/a/b\\").error().message == "glob '/a/b\\': trailing backslash");
    CHECK(Glob::compile("/a/[z-a]").error().message == "glob '/a/[z-a]': reversed range in [...]");
    CHECK(Glob::compile("/a/[/]").error().message == "glob '/a/[/]': [...] matches no character");
    CHECK(Glob::compile(std::string("/a\0b", 4)).error().message == "glob contains a NUL byte");
    std::string many = "/";
    for (int i = 0; i < 600; ++i) many += "?";
    CHECK_FALSE(Glob::compile(many).ok());
}

TEST_CASE("policy glob: hostile paths against many stars stay linear", "[policy][glob]") {
    // A backtracking matcher takes exponential time here; the NFA answers at once.
    auto x = g("/**a**a**a**a**a**a**a**a**b");
    std::string path = "/" + std::string(4000, 'a');
    CHECK_FALSE(x.match(path));
    CHECK(x.match(path + "b"));
}

TEST_CASE("policy glob: home directories from passwd", "[policy][glob]") {
    auto homes = mw::policy::home_directories(MW_POLICY_TEST_DIR "/passwd.fixture");
    CHECK(homes == std::vector<std::string>{"/root", "/usr/sbin", "/home/alice", "/home/bob"});
    CHECK(mw::policy::home_directories("/nonexistent/passwd") == std::vector<std::string>{"/root"});

    auto e = mw::policy::expand_home("~/.ssh/**", {"/root", "/home/alice"});
    REQUIRE(e.ok());
    CHECK(*e == std::vector<std::string>{"/root/.ssh/**", "/home/alice/.ssh/**"});
    auto plain = mw::policy::expand_home("/etc/x", {"/root"});
    CHECK(*plain == std::vector<std::string>{"/etc/x"});
    auto rootdir = mw::policy::expand_home("~/.netrc", {"/"});
    CHECK(*rootdir == std::vector<std::string>{"/.netrc"});
    auto user = mw::policy::expand_home("~alice/.ssh", {"/root"});
    CHECK(user.error().message == "'~alice/.ssh': only ~/ (every home directory) is supported, not ~user");
}
