// modelwarden: the one binary. `run` is the daemon; the other commands are tools for
// operators and CI (policy check, doctor, ...).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/doctor.hpp"
#include "daemon/agent.hpp"
#include "policy/check.hpp"
#include "seccomp/cli.hpp"

#ifndef MW_VERSION
#define MW_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
    CLI::App app{"modelwarden: eBPF security agent for ML model-serving hosts"};
    app.set_version_flag("--version", MW_VERSION);
    app.require_subcommand(1);
    int exit_code = 0;

    // ---- run ----
    auto* run = app.add_subcommand("run", "Run the agent (daemon) in the foreground");
    std::string config_path, events_file, ready_file, spool_dir, log_level = "info";
    std::vector<std::string> policy_paths;
    bool to_stdout = false;
    run->add_option("--config", config_path, "Agent configuration file (YAML)");
    run->add_option("--policy", policy_paths, "Policy file or directory (repeatable; overrides the config)");
    run->add_option("--events-file", events_file, "Append ECS JSON Lines to this file");
    run->add_flag("--stdout", to_stdout, "Write ECS JSON Lines to standard output");
    run->add_option("--spool-dir", spool_dir, "Durable event spool directory");
    run->add_option("--ready-file", ready_file, "Write the agent's pid here once it is attached and ready");
    run->add_option("--log-level", log_level, "trace|debug|info|warn|error")->check(
        CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    run->callback([&] {
        // Logs go to stderr so stdout can carry nothing but events.
        spdlog::set_default_logger(spdlog::stderr_color_mt("modelwarden"));
        spdlog::set_level(spdlog::level::from_str(log_level));
        mw::RunOptions options;
        if (!config_path.empty()) {
            auto loaded = mw::load_agent_config(config_path);
            if (!loaded) {
                std::cerr << loaded.error().message << "\n";
                exit_code = 1;
                return;
            }
            options.config = std::move(loaded).value();
        } else {
            options.config = mw::default_agent_config();
        }
        if (!policy_paths.empty()) options.config.policy_paths = policy_paths;
        if (!events_file.empty()) options.config.events_file = events_file;
        if (!spool_dir.empty()) options.config.spool_dir = spool_dir;
        if (to_stdout) options.config.stdout_events = true;
        if (!options.config.stdout_events && options.config.events_file.empty() && options.config.spool_dir.empty())
            options.config.stdout_events = true;  // an agent that writes nowhere would be silent
        options.ready_file = ready_file;
        exit_code = mw::run_agent(options);
    });

    // ---- policy ----
    auto* policy = app.add_subcommand("policy", "Policy tools");
    policy->require_subcommand(1);
    auto* check = policy->add_subcommand("check", "Validate policy files; errors as file:line:column");
    std::vector<std::string> check_paths;
    check->add_option("paths", check_paths, "Policy files or directories")->required();
    check->callback([&] { exit_code = mw::policy::run_policy_check(check_paths, std::cout); });

    // ---- doctor ----
    auto* doctor = app.add_subcommand("doctor", "Show kernel features and which hooks the agent will use");
    doctor->callback([&] { exit_code = mw::run_doctor(std::cout); });

    // ---- seccomp learn|generate, exec ----
    mw::add_seccomp_commands(app, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return exit_code;
}
