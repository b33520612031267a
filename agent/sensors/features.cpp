// Probes run real loads/attaches: capability checks by version number lie on kernels
// with lockdown or backports, so the answer is what the kernel does right now.
#include "features.hpp"

#include "kernel_fs.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mw::sensors {
namespace {

// r0 = 0; exit
const bpf_insn kReturnZero[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};
// r0 = 1; exit (cgroup programs: 1 = allow)
const bpf_insn kReturnOne[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};

std::string errtext(int err) { return std::strerror(err < 0 ? -err : err); }

FeatureStatus yes(std::string name, std::string detail = {}) { return {std::move(name), true, std::move(detail)}; }
FeatureStatus no(std::string name, std::string detail) { return {std::move(name), false, std::move(detail)}; }

// Loads a program attached to a BTF id of vmlinux and, for tracing types, attaches it.
FeatureStatus probe_btf_prog(const std::string& name, bpf_prog_type type, bpf_attach_type attach, const char* target,
                             __u32 kind, btf* vmlinux)
{
    if (!vmlinux) return no(name, "no vmlinux BTF");
    int id = btf__find_by_name_kind(vmlinux, target, kind);
    if (id < 0) return no(name, fmt::format("{} not in BTF", target));
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .attach_btf_id = static_cast<__u32>(id));
    int fd = bpf_prog_load(type, "mw_probe", "GPL", kReturnZero, 2, &opts);
    if (fd < 0) return no(name, fmt::format("load: {}", errtext(errno)));
    int link = bpf_raw_tracepoint_open(nullptr, fd);
    int err = errno;
    ::close(fd);
    if (link < 0) return no(name, fmt::format("attach: {}", errtext(err)));
    ::close(link);
    return yes(name, fmt::format("loaded and attached to {}", target));
}

FeatureStatus probe_raw_tp()
{
    int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "mw_probe", "GPL", kReturnZero, 2, nullptr);
    if (fd < 0) return no("raw_tp", fmt::format("load: {}", errtext(errno)));
    int link = bpf_raw_tracepoint_open("sched_process_exec", fd);
    int err = errno;
    ::close(fd);
    if (link < 0) return no("raw_tp", fmt::format("attach: {}", errtext(err)));
    ::close(link);
    return yes("raw_tp", "sched_process_exec");
}

FeatureStatus probe_cgroup_sock_addr()
{
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
    int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "mw_probe", "GPL", kReturnOne, 2, &opts);
    if (fd < 0) return no("cgroup_sock_addr", fmt::format("load: {}", errtext(errno)));
    ::close(fd);
    bool v2 = ::access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0 ||
              ::access("/sys/fs/cgroup/cgroup.procs", F_OK) == 0;
    if (!v2) return no("cgroup_sock_addr", "program loads, but no cgroup v2 hierarchy is mounted");
    return yes("cgroup_sock_addr", "connect4 program loads; cgroup v2 mounted");
}

FeatureStatus probe_fanotify()
{
    int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
    if (fd < 0) return no("fanotify_perm", fmt::format("fanotify_init: {}", errtext(errno)));
    int rc = fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "/tmp");
    int err = errno;
    ::close(fd);
    if (rc != 0) return no("fanotify_perm", fmt::format("FAN_OPEN_PERM mark: {}", errtext(err)));
    return yes("fanotify_perm", "FAN_OPEN_PERM mark accepted");
}

FeatureStatus probe_lockdown()
{
    std::ifstream in("/sys/kernel/security/lockdown");
    std::string line;
    if (!in || !std::getline(in, line))
        return no("lockdown", "unknown (securityfs not mounted or no lockdown LSM)");
    // "none [integrity] confidentiality": the bracketed word is the active mode.
    auto open = line.find('['), close = line.find(']');
    std::string mode = open != std::string::npos && close > open ? line.substr(open + 1, close - open - 1) : line;
    return {"lockdown", mode != "none", mode};
}

}  // namespace

const FeatureStatus* KernelFeatures::find(const std::string& name) const
{
    for (const auto& i : items)
        if (i.name == name) return &i;
    return nullptr;
}

bool KernelFeatures::has(const std::string& name) const
{
    const auto* f = find(name);
    return f && f->available;
}

std::vector<std::string> KernelFeatures::active_paths() const
{
    std::vector<std::string> out;
    out.push_back(has("syscall_tracepoints") ? "file/network/security: syscall tracepoints (sys_enter_*/sys_exit_*)"
                                             : "file/network/security: UNAVAILABLE (no syscall tracepoints)");
    out.push_back(has("tp_btf") ? "process fork/exec/exit: tp_btf sched_process_*"
                                : "process fork/exec/exit: UNAVAILABLE (no tp_btf)");
    out.push_back(has("fentry") ? "fentry: available, not used by this sensor set (tracepoints cover every hook)"
                                : "fentry: off (refused), tracepoints in use");
    out.push_back(has("bpf_lsm") ? "bpf-lsm: available for in-kernel deny"
                                 : "bpf-lsm: off (refused); deny falls back to cgroup hooks / fanotify / kill");
    out.push_back(has("ringbuf") ? "transport: BPF ring buffer" : "transport: UNAVAILABLE (no ring buffer)");
    return out;
}

std::vector<std::string> KernelFeatures::enforcement_mechanisms() const
{
    const bool lsm = has("bpf_lsm"), sig = has("bpf_send_signal"), cg = has("cgroup_sock_addr");
    std::vector<std::string> out;
    out.push_back(sig ? "exec kill:      bpf_send_signal(SIGKILL) at tp_btf sched_process_exec (new image runs nothing)"
                      : "exec kill:      UNAVAILABLE (no bpf_send_signal): alert only");
    const bool fan = has("fanotify_perm");
    out.push_back(lsm ? "exec deny:      BPF-LSM bprm_check_security (EPERM)"
                  : fan ? "exec deny:      fanotify FAN_OPEN_EXEC_PERM (EPERM) for programs directly in the PATH "
                          "directories, /tmp, /var/tmp, /dev/shm; alert only elsewhere; use action kill there"
                        : "exec deny:      NOT ENFORCED (no BPF-LSM, no fanotify permission events): alert only; "
                          "use action kill");
    out.push_back(sig ? "file kill:      bpf_send_signal(SIGKILL) at sys_exit_open* (fd never reaches user space)"
                      : "file kill:      UNAVAILABLE (no bpf_send_signal): alert only");
    out.push_back(lsm ? "file deny:      BPF-LSM file_open (EPERM)"
                  : fan ? "file deny:      fanotify FAN_OPEN_PERM (EPERM) on the sensitive paths of enforce-mode "
                          "deny rules; read/write allow lists alert only outside them; the agent logs one "
                          "'file deny: fanotify|alert-only: ...' line per rule"
                        : "file deny:      NOT ENFORCED (no BPF-LSM, no fanotify permission events): alert only; "
                          "use action kill");
    out.push_back(cg ? "network deny:   cgroup connect4/6, sendmsg4/6, bind4/6 at the cgroup v2 root (EPERM)"
                     : "network deny:   UNAVAILABLE (no cgroup sock_addr programs): alert only");
    out.push_back(cg && sig ? "network kill:   cgroup deny + SIGKILL at the syscall's sys_exit"
                            : "network kill:   UNAVAILABLE");
    out.push_back(cg ? "isolate:        workload flag set in the kernel; cgroup programs refuse all further egress"
                     : "isolate:        UNAVAILABLE (no cgroup sock_addr programs)");
    out.push_back("freeze:         cgroup v2 cgroup.freeze on the workload's own cgroup (not wired to alerts yet)");
    out.push_back("fail-safe:      maps and links pinned in bpffs (agent.pin_dir); adopted by the next agent");
    // bpf/self_protect*.bpf.c: tracepoints always report; the stop depends on the kernel.
    out.push_back(lsm ? "self-protect:   alert for any process; a watched enforce-mode task is refused (EPERM) by "
                        "BPF-LSM task_kill, ptrace_access_check, file_open, inode_unlink/rmdir/rename/setattr, bpf"
                  : sig ? "self-protect:   alert for any process; a watched enforce-mode task is SIGKILLed at sys_enter "
                          "(the syscall still runs: detection + containment, not prevention)"
                        : "self-protect:   alert only (no BPF-LSM, no bpf_send_signal)");
    return out;
}

KernelFeatures probe()
{
    KernelFeatures f;
    btf* vmlinux = btf__load_vmlinux_btf();
    f.items.push_back(vmlinux ? yes("btf", "/sys/kernel/btf/vmlinux") : no("btf", errtext(errno)));

    int rb = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
    f.items.push_back(rb == 1 ? yes("ringbuf") : no("ringbuf", rb < 0 ? errtext(rb) : "map type not supported"));

    f.items.push_back(probe_btf_prog("tp_btf", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, "btf_trace_sched_process_exec",
                                     BTF_KIND_TYPEDEF, vmlinux));
    f.items.push_back(probe_raw_tp());

    bool tracefs = is_mounted_as("/sys/kernel/tracing", kTracefsMagic);
    bool syscalls = ::access("/sys/kernel/tracing/events/syscalls/sys_enter_openat/id", R_OK) == 0;
    f.items.push_back(syscalls ? yes("syscall_tracepoints", "events/syscalls present")
                               : no("syscall_tracepoints", tracefs ? "no events/syscalls (CONFIG_FTRACE_SYSCALLS?)"
                                                                   : "tracefs not mounted"));
    f.items.push_back(probe_cgroup_sock_addr());

    int sig = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal, nullptr);
    f.items.push_back(sig == 1 ? yes("bpf_send_signal") : no("bpf_send_signal", sig < 0 ? errtext(sig) : "helper missing"));

    // Optional hooks: refused on lockdown kernels; never a reason not to start.
    f.items.push_back(probe_btf_prog("fentry", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "do_unlinkat", BTF_KIND_FUNC, vmlinux));
    f.items.push_back(probe_btf_prog("bpf_lsm", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open", BTF_KIND_FUNC, vmlinux));

    bool kprobes = ::access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0;
    f.items.push_back(kprobes ? yes("kprobes", "kprobe PMU present") : no("kprobes", "no kprobe PMU (CONFIG_KPROBES off)"));
    f.items.push_back(probe_fanotify());
    f.items.push_back(probe_lockdown());
    f.items.push_back(tracefs ? yes("tracefs", "/sys/kernel/tracing") : no("tracefs", "not mounted"));
    f.items.push_back(is_mounted_as("/sys/fs/bpf", kBpffsMagic) ? yes("bpffs", "/sys/fs/bpf") : no("bpffs", "not mounted"));
    btf__free(vmlinux);
    return f;
}

}  // namespace mw::sensors
