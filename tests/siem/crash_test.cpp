// Reliability: the agent (a driver process appending and delivering to HEC) is killed with SIGKILL
// mid-batch and restarted; every event whose append returned is delivered at least once.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "receivers.hpp"
#include "test_dir.hpp"

using namespace std::chrono_literals;

#ifndef SIEM_DRIVER
#error "SIEM_DRIVER must name the driver binary"
#endif

namespace {
pid_t spawn(const std::vector<std::string>& args) {
    pid_t pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

std::set<std::string> lines(const std::string& path) {
    std::set<std::string> s;
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);) s.insert(l);
    return s;
}
}  // namespace

TEST_CASE("crash: SIGKILL mid-batch and restart loses nothing that was appended", "[reliability][crash]") {
    TestDir d;
    siemtest::HecReceiver rx;
    const std::string spool = (d.path / "spool").string(), progress = (d.path / "progress").string();
    pid_t pid = spawn({SIEM_DRIVER, spool, rx.url(), rx.token, "0", "100000", progress});
    REQUIRE(pid > 0);
    // Kill once deliveries are under way (the receiver has seen a few batches), i.e. mid-stream.
    for (int i = 0; i < 2000 && rx.ids().size() < 300; ++i) std::this_thread::sleep_for(5ms);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    auto appended = lines(progress);
    REQUIRE(appended.size() >= 300);
    REQUIRE(appended.size() < 100000);  // really killed mid-run
    // Restart: the new process appends 50 more and delivers the backlog from the durable cursor.
    pid = spawn({SIEM_DRIVER, spool, rx.url(), rx.token, "100000", "50", progress, "3000"});
    REQUIRE(pid > 0);
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    appended = lines(progress);
    auto got_v = rx.ids();
    std::set<std::string> got(got_v.begin(), got_v.end());
    std::set<std::string> missing;
    for (auto& id : appended)
        if (!got.count(id)) missing.insert(id);
    CHECK(missing.empty());
    // Nothing foreign: at most the one append in flight at the kill is extra (in the spool, not yet in progress).
    std::set<std::string> extra;
    for (auto& id : got)
        if (!appended.count(id)) extra.insert(id);
    CHECK(extra.size() <= 1);
    INFO("received " << got_v.size() << " (" << got.size() << " distinct) of " << appended.size());
    CHECK(got_v.size() >= appended.size());
}
