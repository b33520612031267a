// Representative processes and events (exec, open, connect, alert, enforcement) shared by
// the encoder and ECS conformance tests. Everything is fixed so the JSON is exact.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <vector>

#include "model/security_event.hpp"
#include "output/ecs_encoder.hpp"

namespace mw::test {

inline constexpr std::uint64_t kCreatedNs = 1'763'769'600'500'000'000ull;  // 2025-11-22T00:00:00.5Z
inline std::uint64_t fixed_clock() { return kCreatedNs; }

inline HostInfo fixed_host() {
    HostInfo h;
    h.hostname = "gpu-node-1";
    h.name = "gpu-node-1";
    h.id = "0123456789abcdef0123456789abcdef";
    h.boot_id = "6f1c3a52-8b1e-4f3e-9d7c-2a4b5c6d7e8f";
    h.architecture = "x86_64";
    h.os_family = "debian";
    h.os_name = "Debian GNU/Linux";
    h.os_version = "12";
    h.os_full = "Debian GNU/Linux 12 (bookworm)";
    h.os_platform = "debian";
    h.os_kernel = "6.18.0";
    h.boot_to_realtime_ns = 1'763'700'000'000'000'000ll;  // boot at 2025-11-21T04:40:00Z
    return h;
}

inline AgentInfo fixed_agent() {
    AgentInfo a;
    a.id = "5d2c4a8e-1f3b-5c7d-9e0f-123456789abc";
    a.version = "0.1.0";
    return a;
}

inline EcsEncoder fixed_encoder() {
    EcsEncoderOptions o;
    o.clock = fixed_clock;
    return EcsEncoder(fixed_host(), fixed_agent(), o);
}

struct World {
    Process init, server, shell;
    std::array<const Process*, 2> shell_chain{};
    std::array<const Process*, 1> server_chain{};
    RuleMatch exec_rule, egress_rule;
    std::array<std::uint64_t, 3> ptrace_args{16, 4242, 0};

    World() {
        init.pid = 1;
        init.start_time_ns = 1'000'000'000;
        init.entity_id = "aW5pdC1lbnRpdHktaWQtMQ";
        init.executable = "/usr/lib/systemd/systemd";
        init.name = "systemd";
        init.args = {"/sbin/init"};
        init.cwd = "/";
        init.cgroup_path = "/init.scope";

        server.pid = 4100;
        server.ppid = 1;
        server.start_time_ns = 60'000'000'000;
        server.parent_start_time_ns = init.start_time_ns;
        server.uid = 1001;
        server.gid = 1002;
        server.workload_id = 3;
        server.entity_id = "c2VydmVyLWVudGl0eS1pZA";
        server.executable = "/usr/bin/python3.11";
        server.name = "python3";
        server.args = {"python3", "serve.py", "--model", "/opt/models/resnet.pt"};
        server.cwd = "/opt/serve";
        server.cgroup_id = 7777;
        server.cgroup_path = "/system.slice/torchserve.service";

        shell.pid = 4242;
        shell.ppid = 4100;
        shell.start_time_ns = 61'250'000'000;
        shell.parent_start_time_ns = server.start_time_ns;
        shell.uid = 1001;
        shell.gid = 1002;
        shell.workload_id = 3;
        shell.entity_id = "c2hlbGwtZW50aXR5LWlkLTQ";
        shell.executable = "/usr/bin/dash";
        shell.name = "sh";
        shell.args = {"/bin/sh", "-c", "id > /tmp/x"};
        shell.cwd = "/opt/serve";
        shell.cgroup_id = 7777;
        shell.cgroup_path = "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope";

        shell_chain = {&server, &init};
        server_chain = {&init};

        exec_rule.id = "MW-EXEC-001";
        exec_rule.name = "Model server spawned a process";
        exec_rule.description = "A watched model server executed a program outside its exec allow list";
        exec_rule.severity = "high";
        exec_rule.severity_score = 73;
        exec_rule.technique_id = "T1059";
        exec_rule.technique_name = "Command and Scripting Interpreter";
        exec_rule.tactic_name = "Execution";

        egress_rule.id = "MW-NET-001";
        egress_rule.name = "Unexpected outbound connection";
        egress_rule.severity = "medium";
        egress_rule.severity_score = 47;
        egress_rule.technique_id = "T1041";
        egress_rule.technique_name = "Exfiltration Over C2 Channel";
        egress_rule.tactic_name = "Exfiltration";
    }

    SecurityEvent exec_event() const {
        SecurityEvent e;
        e.sequence = 11;
        e.record_type = 2;
        e.timestamp_ns = 1'763'769'600'123'456'789ull;
        e.category = "process";
        e.type = "start";
        e.action = "exec";
        e.outcome = Outcome::Success;
        e.process = &shell;
        e.ancestors = shell_chain;
        return e;
    }

    SecurityEvent open_event() const {
        SecurityEvent e;
        e.sequence = 12;
        e.record_type = 10;
        e.timestamp_ns = 1'763'769'600'200'000'000ull;
        e.category = "file";
        e.type = "access";
        e.action = "open";
        e.outcome = Outcome::Success;
        e.result = 5;
        e.process = &server;
        e.ancestors = server_chain;
        e.file_path = "/opt/models/resnet.pt";
        e.open_flags = O_RDONLY | O_CLOEXEC;
        return e;
    }

    SecurityEvent connect_event() const {
        SecurityEvent e;
        e.sequence = 13;
        e.record_type = 20;
        e.timestamp_ns = 1'763'769'600'300'000'000ull;
        e.category = "network";
        e.type = "connection,start";
        e.action = "connect";
        e.outcome = Outcome::Failure;
        e.result = -111;
        e.process = &server;
        e.ancestors = server_chain;
        e.source.family = AF_INET6;
        e.source.port = 51000;
        ::inet_pton(AF_INET6, "::1", e.source.addr.data());
        e.destination.family = AF_INET6;
        e.destination.port = 443;
        ::inet_pton(AF_INET6, "2001:db8::7", e.destination.addr.data());
        e.socket_type = SOCK_STREAM;
        return e;
    }

    SecurityEvent alert_event() const {
        SecurityEvent e = exec_event();
        e.sequence = 14;
        e.kind = EventKind::Alert;
        e.category = "process,intrusion_detection";
        e.type = "start,info";
        e.message = "python3 (pid 4100) executed /usr/bin/dash";
        e.rule = &exec_rule;
        e.workload_name = "torchserve-prod";
        e.workload_root = &server;
        e.enforcement = {"alert", true, true, ""};
        return e;
    }

    SecurityEvent enforcement_event() const {
        SecurityEvent e;
        e.sequence = 15;
        e.kind = EventKind::Alert;
        e.record_type = 20;
        e.timestamp_ns = 1'763'769'600'400'000'000ull;
        e.category = "network,intrusion_detection";
        e.type = "connection,denied";
        e.action = "connect";
        e.outcome = Outcome::Failure;
        e.result = -1;
        e.process = &server;
        e.ancestors = server_chain;
        e.destination.family = AF_INET;
        e.destination.port = 4444;
        ::inet_pton(AF_INET, "203.0.113.9", e.destination.addr.data());
        e.socket_type = SOCK_STREAM;
        e.rule = &egress_rule;
        e.workload_name = "torchserve-prod";
        e.workload_root = &server;
        e.enforcement = {"deny", true, true, "cgroup/connect4 returned EPERM"};
        e.syscall_nr = 42;
        e.syscall_name = "connect";
        return e;
    }

    SecurityEvent ptrace_event() const {
        SecurityEvent e;
        e.sequence = 16;
        e.kind = EventKind::Alert;
        e.record_type = 31;
        e.timestamp_ns = 1'763'769'600'450'000'000ull;
        e.category = "process,intrusion_detection";
        e.type = "access,info";
        e.action = "ptrace";
        e.outcome = Outcome::Success;
        e.process = &shell;
        e.ancestors = shell_chain;
        e.syscall_nr = 101;
        e.syscall_name = "ptrace";
        e.syscall_args = ptrace_args;
        e.target_pid = 4100;
        e.rule = &exec_rule;
        return e;
    }

    SecurityEvent exit_event(Process& exited) const {
        exited = shell;
        exited.exited = true;
        exited.exit_code = 9;  // killed by SIGKILL
        exited.exit_time_ns = 62'000'000'000;
        SecurityEvent e;
        e.sequence = 17;
        e.record_type = 3;
        e.timestamp_ns = 1'763'769'600'460'000'000ull;
        e.category = "process";
        e.type = "end";
        e.action = "exit";
        e.outcome = Outcome::Success;
        e.process = &exited;
        return e;
    }

    SecurityEvent pipeline_error_event() const {
        SecurityEvent e;
        e.sequence = 19;
        e.kind = EventKind::PipelineError;
        e.timestamp_ns = 1'763'769'600'480'000'000ull;
        e.category = "host";
        e.type = "info";
        e.action = "events-lost";
        e.outcome = Outcome::Failure;
        e.message = "kernel ring buffer full: 4096 records lost";
        e.lost_events = 4096;
        return e;
    }

    SecurityEvent rename_unix_event() const {
        SecurityEvent e;
        e.sequence = 18;
        e.record_type = 12;
        e.timestamp_ns = 1'763'769'600'470'000'000ull;
        e.category = "file";
        e.type = "change";
        e.action = "rename";
        e.outcome = Outcome::Success;
        e.process = &server;
        e.file_path = "/tmp/payload";
        e.file_target_path = "/usr/local/bin/helper";
        e.file_mode = 0755;
        return e;
    }
};

}  // namespace mw::test
