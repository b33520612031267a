/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* modelwarden kernel <-> user ABI: every record the BPF programs emit and every
 * map key/value the agent fills. Compiled as C (BPF, with vmlinux.h) and as C++
 * (agent/, which adds static_asserts on sizes and offsets). Never copy these
 * structs by hand; include this header. */
#ifndef MODELWARDEN_EVENTS_H
#define MODELWARDEN_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MW_ABI_VERSION 1

/* ---- limits (bounded so the verifier can prove every copy) ---------------- */
#define MW_COMM_LEN 16
#define MW_PATH_MAX 4096          /* longest path copied from the kernel */
#define MW_ARGS_MAX_BYTES 4096    /* argv bytes copied at exec */
#define MW_ARGS_MAX_COUNT 64      /* argv entries copied at exec */
#define MW_LPM_PATH_BYTES 248     /* path bytes in an LPM rule key (LPM data <= 256) */
#define MW_RECORD_MAX 16384       /* largest record; scratch buffers are this big */
#define MW_MAX_WORKLOADS 256

/* ---- record types: stable values, never renumber -------------------------- */
enum mw_event_type {
	MW_EVENT_PROCESS_FORK = 1,
	MW_EVENT_PROCESS_EXEC = 2,     /* successful exec (sched_process_exec) */
	MW_EVENT_PROCESS_EXIT = 3,
	MW_EVENT_EXEC_ATTEMPT = 4,     /* execve/execveat entry: filename + result */
	MW_EVENT_FILE_OPEN = 10,
	MW_EVENT_FILE_UNLINK = 11,
	MW_EVENT_FILE_RENAME = 12,
	MW_EVENT_FILE_CHMOD = 13,
	MW_EVENT_FILE_CHOWN = 14,
	MW_EVENT_MEMFD_CREATE = 15,
	MW_EVENT_NET_CONNECT = 20,
	MW_EVENT_NET_BIND = 21,
	MW_EVENT_NET_LISTEN = 22,
	MW_EVENT_NET_ACCEPT = 23,
	MW_EVENT_NET_SEND = 24,        /* sendto/sendmsg with an explicit destination */
	MW_EVENT_PRIV_CHANGE = 30,     /* setuid family, setgid family, capset */
	MW_EVENT_PTRACE = 31,
	MW_EVENT_PROCESS_VM = 32,      /* process_vm_readv / process_vm_writev */
	MW_EVENT_MODULE_LOAD = 33,     /* init_module / finit_module */
	MW_EVENT_BPF_CALL = 34,        /* bpf() from a process other than the agent */
	MW_EVENT_ENFORCEMENT = 40,     /* the kernel side acted (kill/deny) */
	MW_EVENT_SECCOMP = 41,         /* syscall stopped by the task's seccomp filter */
	MW_EVENT_SELF_PROTECT = 42,    /* someone went for the agent itself (bpf/self_protect.bpf.c) */
};

/* Flags in mw_event_header.flags. */
#define MW_FLAG_TRUNCATED    (1u << 0) /* a string or list was cut at its bound */
#define MW_FLAG_PROVISIONAL  (1u << 1) /* task marked by selector prefix, not yet confirmed */
#define MW_FLAG_HOST_WIDE    (1u << 2) /* emitted for an unwatched task (exec candidates, bpf, modules) */
#define MW_FLAG_PATH_RESOLVED (1u << 3) /* path rebuilt from the kernel's dentry, not the user string */
#define MW_FLAG_ENFORCED     (1u << 4) /* the kernel acted on this syscall: an MW_EVENT_ENFORCEMENT record carries the alert */
#define MW_FLAG_MODEL_FILE   (1u << 5) /* FILE_OPEN of a model-extension file outside the workload's models.dirs */

/* Every record starts with this header. `size` is the whole record, header included. */
struct mw_event_header {
	__u16 type;            /* enum mw_event_type */
	__u16 size;
	__u32 flags;
	__u64 timestamp_ns;    /* bpf_ktime_get_boot_ns() */
	__u64 start_time_ns;   /* group leader's start_boottime: with pid, the process identity */
	__u64 cgroup_id;
	__u32 pid;             /* tgid */
	__u32 tid;
	__u32 ppid;            /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 workload_id;     /* 0 = not watched */
	char comm[MW_COMM_LEN];
};

/* Variable-length strings follow the fixed part of a record in `data`, in the
 * order the struct documents. Each *_len counts the bytes stored, including the
 * terminating NUL (0 = absent). argv is stored as NUL-separated strings. */

struct mw_fork_event {
	struct mw_event_header hdr;
	__u32 child_pid;
	__u32 _pad;
	__u64 child_start_time_ns;
};

struct mw_exec_event {
	struct mw_event_header hdr;
	__u32 argc;            /* argv entries in the new image (may exceed those stored) */
	__u16 filename_len;    /* data: filename, then args, then cwd */
	__u16 args_len;
	__u16 cwd_len;
	__u16 _pad;
	__u32 old_pid;         /* pid before exec (differs when a non-leader thread execs) */
	char data[];
};

struct mw_exit_event {
	struct mw_event_header hdr;
	__s32 exit_code;       /* raw wait status: (code << 8) | signal */
	__u32 _pad;
};

struct mw_exec_attempt_event {
	struct mw_event_header hdr;
	__s64 result;          /* syscall return; only failures are emitted (success = EXEC) */
	__s32 dirfd;           /* execveat dirfd, AT_FDCWD for execve */
	__u32 at_flags;        /* execveat flags (AT_EMPTY_PATH = fileless exec of an fd) */
	__u16 filename_len;    /* data: filename */
	__u16 _pad[3];
	char data[];
};

struct mw_file_event {
	struct mw_event_header hdr;
	__s64 result;          /* fd or -errno */
	__u32 open_flags;      /* O_* for open; 0 otherwise */
	__u32 mode;            /* open/chmod mode */
	__u32 owner_uid;       /* chown */
	__u32 owner_gid;
	__u16 path_len;        /* data: path, then target (rename destination, memfd name) */
	__u16 target_len;
	__u32 _pad;
	char data[];
};

/* Address in network byte order; IPv4 stored in the first 4 bytes of addr. */
struct mw_sockaddr {
	__u16 family;          /* AF_INET, AF_INET6, AF_UNIX */
	__u16 port;            /* host byte order */
	__u32 _pad;
	__u8 addr[16];
};

struct mw_net_event {
	struct mw_event_header hdr;
	__s64 result;
	struct mw_sockaddr local;   /* bind/listen/accept */
	struct mw_sockaddr remote;  /* connect/accept/send destination */
	__u32 socket_type;          /* SOCK_STREAM, SOCK_DGRAM, ... (0 = unknown) */
	__u32 backlog;              /* listen */
	__u16 unix_path_len;        /* data: unix socket path (abstract names start with '@') */
	__u16 _pad[3];
	char data[];
};

/* Generic record for security-relevant syscalls: setuid family, capset, ptrace,
 * process_vm_*, init_module/finit_module, bpf. */
struct mw_syscall_event {
	struct mw_event_header hdr;
	__s64 result;
	__u64 args[6];
	__u32 syscall_nr;           /* this architecture's number */
	__u32 target_pid;           /* ptrace / process_vm_* target; 0 otherwise */
	__u16 text_len;             /* data: finit_module file path, when known */
	__u16 _pad[3];
	char data[];
};

/* Kernel-side enforcement record (issue: enforcement). */
enum mw_action {
	MW_ACTION_NONE = 0,
	MW_ACTION_ALERT = 1,
	MW_ACTION_DENY = 2,
	MW_ACTION_KILL = 3,
	MW_ACTION_FREEZE = 4,
	MW_ACTION_ISOLATE = 5,
};

struct mw_enforcement_event {
	struct mw_event_header hdr;
	__u32 action;               /* enum mw_action */
	__u32 cause_type;           /* enum mw_event_type of what was stopped */
	__s32 result;               /* 0 = done, -errno if the action failed */
	__u16 text_len;             /* data: the path/exe that triggered it */
	__u16 _pad;
	struct mw_sockaddr addr;    /* network causes: destination (connect/send) or local (bind) */
	__u32 socket_type;          /* network causes: SOCK_STREAM, SOCK_DGRAM */
	__u32 open_flags;           /* file causes: O_* of the open */
	char data[];
};

/* ---- drop accounting (per-CPU array indexed by reason) --------------------- */
enum mw_drop_reason {
	MW_DROP_RINGBUF_FULL = 0,   /* bpf_ringbuf_output failed */
	MW_DROP_SCRATCH = 1,        /* per-CPU scratch lookup failed */
	MW_DROP_PENDING_FULL = 2,   /* could not save syscall args at entry */
	MW_DROP_TASK_MAP_FULL = 3,  /* could not mark a child of a watched task */
	MW_DROP_REASON_COUNT = 4,
};

/* ---- policy maps (filled by the agent from compiled policy) ---------------- */

/* watched_tasks: tgid -> state. */
struct mw_task_state {
	__u32 workload_id;
	__u32 flags;                /* MW_FLAG_PROVISIONAL */
};

#define MW_WORKLOAD_PENDING 0xffffffffu /* selector prefix matched; user space decides */

/* workloads: array indexed by workload_id. */
#define MW_WL_ENFORCE    (1u << 0)  /* mode: enforce */
#define MW_WL_AUDIT_ALL  (1u << 1)  /* send allowed activity too (full auditing) */
#define MW_WL_ISOLATED   (1u << 2)  /* isolate action fired: every further egress is denied */
struct mw_workload_config {
	__u32 flags;
	__u8 exec_action;           /* enum mw_action for a non-allowed exec */
	__u8 read_action;
	__u8 write_action;
	__u8 sensitive_action;
	__u8 egress_action;
	__u8 listen_action;
	__u8 _pad[6];
};

/* path_rules: LPM trie. prefixlen counts bits of workload_id + path bytes.
 * An exact-path rule includes the path's terminating NUL in its prefix. */
struct mw_path_rule_key {
	__u32 prefixlen;
	__u32 workload_id;          /* big-endian so the trie compares it first, bytewise */
	__u8 path[MW_LPM_PATH_BYTES];
};

#define MW_PATH_ALLOW_READ  (1u << 0)
#define MW_PATH_ALLOW_WRITE (1u << 1)
#define MW_PATH_SENSITIVE   (1u << 2) /* always reported, and the sensitive action applies */
#define MW_PATH_USERSPACE   (1u << 3) /* a glob the trie cannot express: user space decides */
#define MW_PATH_ALLOW_EXEC  (1u << 4) /* on the exec allow list */
struct mw_path_rule {
	__u32 flags;
};

/* net_rules: LPM trie over (workload, port, address). Port 0 in a rule = any port;
 * the kernel looks up the real port, then port 0. IPv4 is stored v4-mapped. */
struct mw_net_rule_key {
	__u32 prefixlen;            /* 32 (workload) + 16 (port) + 16 (pad) + address bits */
	__u32 workload_id;          /* big-endian */
	__u16 port;                 /* big-endian */
	__u16 _pad;
	__u8 addr[16];
};

/* Protocols a net rule allows (policy "…:53/udp"). Both bits = any protocol. */
#define MW_NET_ALLOW_TCP (1u << 0)
#define MW_NET_ALLOW_UDP (1u << 1)
struct mw_net_rule {
	__u32 flags;                /* MW_NET_ALLOW_*: check against the socket's protocol */
};

/* listen_rules: hash (workload, port) -> allowed. */
struct mw_listen_rule_key {
	__u32 workload_id;
	__u16 port;                 /* host byte order */
	__u16 _pad;
};

/* selector_exe_prefixes: LPM trie over the literal prefix of each selector's
 * executable glob. A match marks the exec'ing task provisionally. */
struct mw_selector_key {
	__u32 prefixlen;
	__u8 path[MW_LPM_PATH_BYTES];
};

/* ---- seccomp learning and violations (bpf/seccomp_learn.bpf.c) ------------- */
/* seccomp_syscalls: array indexed by workload_id; bit n of the bitmap = syscall n seen. */
#define MW_SYSCALL_BITMAP_WORDS 8   /* 512 syscall numbers */
struct mw_syscall_bitmap {
	__u64 words[MW_SYSCALL_BITMAP_WORDS];
};

/* mw_task_state.flags: the launcher's own execve is not the workload's (cleared by it). */
#define MW_TASK_SKIP_FIRST_EXEC (1u << 31)

enum mw_seccomp_action {
	MW_SECCOMP_ERRNO = 1,       /* SECCOMP_RET_ERRNO: the syscall returned -errno */
	MW_SECCOMP_KILL = 2,        /* SECCOMP_RET_KILL_*: the task dies with SIGSYS */
	MW_SECCOMP_OTHER = 3,       /* TRAP / TRACE without tracer / USER_NOTIF */
	MW_SECCOMP_LOG = 4,         /* SECCOMP_RET_LOG: outside the profile, ran (seen at sys_enter) */
};

struct mw_seccomp_event {
	struct mw_event_header hdr;
	__s64 result;               /* -errno for MW_SECCOMP_ERRNO, else the rolled-back register */
	__u64 args[6];
	__u32 syscall_nr;           /* this architecture's number */
	__u32 action;               /* enum mw_seccomp_action */
};

/* ---- self-protection (bpf/self_protect.bpf.c) --------------------------------- */
enum mw_tamper_kind {
	MW_TAMPER_SIGNAL = 1,       /* kill family / pidfd_send_signal aimed at the agent */
	MW_TAMPER_PTRACE = 2,       /* ptrace of an agent thread */
	MW_TAMPER_PROCESS_VM = 3,   /* process_vm_readv/writev of the agent */
	MW_TAMPER_FILE = 4,         /* write/truncate/unlink/rename/chmod/chown of a protected path */
	MW_TAMPER_BPF = 5,          /* bpf() detach/update of one of the agent's links or programs */
};

/* Protected objects (value of the protected_inodes / protected_paths maps). */
enum mw_protected_kind {
	MW_PROTECTED_BINARY = 1,
	MW_PROTECTED_CONFIG = 2,
	MW_PROTECTED_PIN_DIR = 3,
	MW_PROTECTED_SPOOL = 4,
	MW_PROTECTED_AUDIT_LOG = 5,
};

/* protected_inodes: the agent's files and directories by (dev, inode), so a rename of a
 * parent does not let a write escape. dev is the kernel's s_dev (new_encode_dev order). */
struct mw_inode_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

/* self_bpf_objects key: (kind << 32) | id, kind 1 = link, 2 = program. */
#define MW_SELF_BPF_LINK 1ull
#define MW_SELF_BPF_PROG 2ull

/* Emitted at sys_enter (the attempt) except for opens, emitted at sys_exit with the fd. */
struct mw_self_protect_event {
	struct mw_event_header hdr;
	__s64 result;               /* open: fd or -errno; others: 0 (the attempt, seen at entry) */
	__u64 args[4];              /* the syscall's first arguments, raw */
	__u32 syscall_nr;           /* this architecture's number */
	__u32 kind;                 /* enum mw_tamper_kind */
	__u32 target_pid;           /* signal/ptrace/process_vm target (pidfd resolved in the kernel) */
	__s32 signal;               /* MW_TAMPER_SIGNAL: the signal number */
	__u32 action;               /* enum mw_action the kernel took (NONE or KILL) */
	__s32 action_result;        /* 0 or -errno of that action */
	__u64 object_id;            /* FILE: inode (0 when matched by path); BPF: link or prog id */
	__u32 dev;                  /* FILE: s_dev of that inode */
	__u32 protected_kind;       /* FILE: enum mw_protected_kind */
	__u16 text_len;             /* data: the path (FILE) */
	__u16 _pad[3];
	char data[];
};

/* ---- model files (bpf/file.bpf.c) ----------------------------------------------- */
/* model_extensions: hash of file-name extensions (lower case, no dot, NUL-padded) whose
 * opens outside models.dirs are always reported (MW_FLAG_MODEL_FILE). model_dirs: LPM
 * trie with mw_path_rule_key keys ("<dir>/" prefixes), value 1. */
#define MW_MODEL_EXT_MAX 16
struct mw_model_ext_key {
	char ext[MW_MODEL_EXT_MAX];
};

#endif /* MODELWARDEN_EVENTS_H */
