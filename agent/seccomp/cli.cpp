// CLI front of mw_seccomp: argument parsing and files; the work is in learn/profile/apply.
#include "seccomp/cli.hpp"

#include "seccomp/apply.hpp"
#include "seccomp/learn.hpp"
#include "seccomp/profile.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

namespace mw {
namespace {

// Where `run --learn-seccomp` keeps learned sets (AgentConfig::seccomp_dir's default).
const std::string kDefaultLearnedDir = "/var/lib/modelwarden/seccomp";

struct SeccompArgs {
    std::string workload, out_dir, learned, learned_dir = kDefaultLearnedDir, previous, action = "errno";
    std::string profile, cgroup, policy;
    std::vector<std::string> command, allow;
};

bool write_file(const std::filesystem::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
        std::cerr << fmt::format("seccomp: cannot write {}\n", path.string());
        return false;
    }
    return true;
}

int run_learn(const SeccompArgs& a)
{
    auto run = seccomp::learn_command(a.workload, a.command);
    if (!run) {
        std::cerr << run.error().message << "\n";
        return 1;
    }
    auto stored = seccomp::store_learned(a.out_dir, run->learned);
    if (!stored) {
        std::cerr << stored.error().message << "\n";
        return 1;
    }
    std::cout << fmt::format("seccomp: learned {} syscalls of {} -> {}\n", run->learned.syscalls.size(), a.workload,
                             stored->string());
    int st = run->wait_status;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    std::cerr << fmt::format("seccomp: the command died with signal {}\n", WTERMSIG(st));
    return 128 + WTERMSIG(st);
}

int run_generate(const SeccompArgs& a)
{
    // --workload NAME reads what the agent learned for it; --learned FILE names a set directly.
    if (a.learned.empty() == a.workload.empty()) {
        std::cerr << "seccomp: generate needs exactly one of --workload NAME or --learned FILE\n";
        return 2;
    }
    std::filesystem::path learned_path = a.learned;
    if (!a.workload.empty()) {
        if (auto ok = seccomp::check_workload_name(a.workload); !ok) {
            std::cerr << ok.error().message << "\n";
            return 2;
        }
        learned_path = std::filesystem::path(a.learned_dir) / (a.workload + ".json");
    }
    auto learned = seccomp::load_learned(learned_path);
    if (!learned) {
        std::cerr << learned.error().message << "\n";
        return 1;
    }
    seccomp::GenerateOptions options;
    auto action = seccomp::action_from_cli(a.action);
    if (!action) {
        std::cerr << fmt::format("seccomp: --action '{}' is not errno, kill_process or log\n", a.action);
        return 2;
    }
    options.action = *action;
    for (const auto& list : a.allow) {
        std::stringstream names(list);
        std::string name;
        while (std::getline(names, name, ','))
            if (!name.empty()) options.allow.insert(name);
    }
    std::filesystem::path dir(a.out_dir.empty() ? a.learned_dir : a.out_dir);
    const auto& wl = learned->workload;
    // Without --previous the diff is against the profile this command wrote last time.
    std::string previous_path = a.previous;
    if (previous_path.empty() && std::filesystem::exists(dir / (wl + ".seccomp.json")))
        previous_path = (dir / (wl + ".seccomp.json")).string();
    std::unique_ptr<seccomp::Profile> previous;
    if (!previous_path.empty()) {
        auto loaded = seccomp::load_profile(previous_path);
        if (!loaded) {
            std::cerr << loaded.error().message << "\n";
            return 1;
        }
        previous = std::make_unique<seccomp::Profile>(std::move(loaded).value());
    }
    auto generated = seccomp::generate_profile(*learned, options);
    if (!generated) {
        std::cerr << generated.error().message << "\n";
        return 1;
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        std::cerr << fmt::format("seccomp: cannot create {}: {}\n", dir.string(), ec.message());
        return 1;
    }
    std::string diff = seccomp::diff_profiles(previous.get(), generated->profile);
    for (const auto& n : generated->left_out)
        diff += fmt::format("! {} was seen but left out (always dangerous; --allow {} to keep it)\n", n, n);
    for (const auto& n : generated->added) diff += fmt::format("* {} added (every process needs it)\n", n);
    if (!write_file(dir / (wl + ".seccomp.json"), seccomp::profile_to_json(generated->profile)) ||
        !write_file(dir / (wl + ".seccomp.conf"), seccomp::systemd_dropin(generated->profile, wl)) ||
        !write_file(dir / (wl + ".seccomp.diff"), diff))
        return 1;
    std::cout << diff;
    std::cout << fmt::format("seccomp: wrote {0}.seccomp.json, {0}.seccomp.conf, {0}.seccomp.diff in {1}\n", wl,
                             dir.string());
    return 0;
}

}  // namespace

void add_seccomp_commands(CLI::App& app, int& exit_code)
{
    auto args = std::make_shared<SeccompArgs>();
    auto* seccomp = app.add_subcommand("seccomp", "Learn syscall sets and generate seccomp profiles");
    seccomp->require_subcommand(1);

    auto* learn = seccomp->add_subcommand("learn", "Run a command, learn its syscalls, merge into DIR/<workload>.json");
    learn->add_option("--workload", args->workload, "Workload name")->required();
    learn->add_option("--out", args->out_dir, "Directory of learned sets")->required();
    learn->add_option("command", args->command, "-- CMD ARGS")->required();
    learn->callback([args, &exit_code] { exit_code = run_learn(*args); });

    auto* generate = seccomp->add_subcommand("generate", "Make an OCI profile, a systemd drop-in and a diff");
    generate->add_option("--workload", args->workload, "Workload whose learned set (DIR/NAME.json) to use");
    generate->add_option("--dir", args->learned_dir, "Learned sets directory (the agent's sensors.seccomp_dir)");
    generate->add_option("--learned", args->learned, "Learned set (JSON), instead of --workload");
    generate->add_option("--previous", args->previous, "Previous OCI profile, for the diff (default: OUT/NAME.seccomp.json)");
    generate->add_option("--out-dir", args->out_dir, "Output directory (default: --dir)");
    generate->add_option("--allow", args->allow, "Dangerous syscalls to keep (name,...)");
    generate->add_option("--action", args->action, "errno | kill_process | log");
    generate->callback([args, &exit_code] { exit_code = run_generate(*args); });

    auto* exec = app.add_subcommand("exec", "Run a command under a seccomp profile (NO_NEW_PRIVS, own cgroup)");
    exec->add_option("--seccomp", args->profile, "OCI seccomp profile (JSON)")->required();
    exec->add_option("--cgroup", args->cgroup, "Run in cgroup v2 <mount>/modelwarden/NAME");
    exec->add_option("--policy", args->policy,
                     "Run in the cgroup of this policy's workload (its selector's, else /modelwarden/NAME)");
    exec->add_option("--workload", args->workload, "Which workload of --policy (when it defines several)");
    exec->add_option("command", args->command, "-- CMD ARGS")->required();
    exec->callback([args, &exit_code] {
        seccomp::ExecOptions options{args->profile, args->cgroup, args->command, args->policy, args->workload};
        auto failed = seccomp::exec_confined(options);  // returns only on failure
        std::cerr << failed.error().message << "\n";
        exit_code = 126;
    });
}

}  // namespace mw
