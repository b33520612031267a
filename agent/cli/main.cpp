// modelwarden: the one binary. `run` is the daemon; the other commands are tools for
// operators and CI (policy check, doctor, ...).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "audit/audit_log.hpp"
#include "cli/doctor.hpp"
#include "control/client.hpp"
#include "daemon/agent.hpp"
#include "policy/check.hpp"
#include "sensors/features.hpp"
#include "scanner/cli.hpp"
#include "spool/spool.hpp"
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
    bool learn_seccomp = false;
    run->add_flag("--learn-seccomp", learn_seccomp, "Record each workload's syscall set for `seccomp generate`");
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
        if (learn_seccomp) options.config.learn_syscalls = true;
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
    check->callback([&] {
        // per rule: which mechanism enforces it on this host, and what `fallback:` does
        const auto features = mw::sensors::probe();
        const mw::policy::HostMechanisms host{features.has("bpf_lsm"), features.has("fanotify_perm")};
        exit_code = mw::policy::run_policy_check(check_paths, std::cout, {}, &host);
    });

    const std::string default_socket = "/run/modelwarden/control.sock";
    std::string socket_path = default_socket;
    auto control_verb = [&](std::vector<std::string> args) {
        exit_code = mw::run_control_client(socket_path, args, std::cout, std::cerr);
    };

    // ---- policy apply|list|rollback (through the running agent) ----
    std::string apply_file, apply_signature;
    auto* apply = policy->add_subcommand("apply", "Validate and apply a policy bundle on the running agent");
    apply->add_option("file", apply_file, "Policy YAML bundle")->required();
    apply->add_option("--signature", apply_signature, "Detached signature of the bundle (base64 or raw)");
    apply->add_option("--socket", socket_path, "Control socket");
    apply->callback([&] {
        std::vector<std::string> args{"policy", "apply", apply_file};
        if (!apply_signature.empty()) args.insert(args.end(), {"--signature", apply_signature});
        control_verb(args);
    });
    auto* list = policy->add_subcommand("list", "Policy generations kept by the running agent");
    list->add_option("--socket", socket_path, "Control socket");
    list->callback([&] { control_verb({"policy", "list"}); });
    auto* rollback = policy->add_subcommand("rollback", "Roll the running agent back to the previous generation");
    rollback->add_option("--socket", socket_path, "Control socket");
    rollback->callback([&] { control_verb({"policy", "rollback"}); });

    // ---- status ----
    auto* status = app.add_subcommand("status", "Status of the running agent");
    status->add_option("--socket", socket_path, "Control socket");
    status->callback([&] { control_verb({"status"}); });

    // ---- thaw / release: undo a freeze or an isolation (operator; audited by the agent) ----
    std::string lift_workload, lift_cgroup, lift_pid;
    auto* thaw = app.add_subcommand("thaw", "Thaw a workload frozen by a freeze action");
    auto* release = app.add_subcommand("release", "Release a workload from isolation (egress allowed again)");
    for (auto* cmd : {thaw, release}) {
        auto* by_workload = cmd->add_option("--workload", lift_workload, "Workload (policy) name");
        auto* by_pid = cmd->add_option("--pid", lift_pid, "A process of the workload");
        by_workload->excludes(by_pid);
        cmd->add_option("--socket", socket_path, "Control socket");
    }
    auto* by_cgroup = thaw->add_option("--cgroup", lift_cgroup, "The frozen cgroup (path under the cgroup2 mount)");
    by_cgroup->excludes("--workload")->excludes("--pid");
    auto lift = [&](const std::string& verb) {
        if (!lift_workload.empty()) control_verb({verb, "--workload", lift_workload});
        else if (!lift_pid.empty()) control_verb({verb, "--pid", lift_pid});
        else if (!lift_cgroup.empty()) control_verb({verb, "--cgroup", lift_cgroup});
        else {
            std::cerr << "error: " << verb << " needs --workload NAME or --pid N" << (verb == "thaw" ? " or --cgroup PATH" : "")
                      << "\n";
            exit_code = 2;
        }
    };
    thaw->callback([&] { lift("thaw"); });
    release->callback([&] { lift("release"); });

    // ---- events (local history from the spool) ----
    std::string spool_query_dir = "/var/lib/modelwarden/spool", since = "10m", kind = "all";
    std::size_t limit = 1000;
    auto* events = app.add_subcommand("events", "Query the local event history (the spool)");
    events->add_option("--spool-dir", spool_query_dir, "Spool directory");
    events->add_option("--since", since, "How far back: 10m, 2h, 1d or Unix seconds");
    events->add_option("--kind", kind, "alert|event|all")->check(CLI::IsMember({"alert", "event", "all"}));
    events->add_option("--limit", limit, "At most this many events");
    events->callback([&] { exit_code = mw::run_events_query(spool_query_dir, since, kind, limit, std::cout, std::cerr); });

    // ---- audit verify ----
    auto* audit = app.add_subcommand("audit", "Audit log tools");
    audit->require_subcommand(1);
    std::string audit_log = "/var/log/modelwarden/audit.jsonl", audit_key = "/var/lib/modelwarden/audit.key.pub";
    auto* verify = audit->add_subcommand("verify", "Prove the audit chain intact, or name the first bad record");
    verify->add_option("--log", audit_log, "Audit log (JSON Lines)");
    verify->add_option("--key", audit_key, "Public key that signs the checkpoints");
    verify->callback([&] { exit_code = mw::run_audit_verify(audit_log, audit_key, std::cout); });

    // ---- scan, model ... (the model-artifact guard) ----
    mw::scanner::add_model_commands(app);

    // ---- doctor ----
    auto* doctor = app.add_subcommand("doctor", "Show kernel features and which hooks the agent will use");
    doctor->callback([&] { exit_code = mw::run_doctor(std::cout); });

    // ---- seccomp learn|generate, exec ----
    mw::add_seccomp_commands(app, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help / --version are "errors" with code 0. Every real usage error exits 2, as mw-scan
        // does (0 ok, 1 findings or failure, 2 usage or error), not CLI11's own codes (106...).
        if (e.get_exit_code() == 0) return app.exit(e);
        std::cerr << "modelwarden: error: " << e.what() << " (see modelwarden --help)\n";
        return 2;
    }
    // The scanner's commands keep their exit code (0 clean, 1 findings, 2 error) themselves.
    return exit_code != 0 ? exit_code : mw::scanner::model_commands_exit_code();
}
