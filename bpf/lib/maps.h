/* SPDX-License-Identifier: GPL-2.0-only */
/* Every BPF map and load-time knob of the modelwarden sensors, in one place. Maps are
 * __weak so each .bpf.c can include this header and `bpftool gen object` merges them. */
#ifndef MW_BPF_MAPS_H
#define MW_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <modelwarden/events.h>

/* ---- load-time constants (rodata, set by the agent before load) ------------- */
/* The agent's own tgid: its bpf() calls are not reported. */
const volatile __u32 agent_tgid __weak = 0;

/* ---- scoping ---------------------------------------------------------------- */
#define MW_MAX_WATCHED_TASKS 65536
#define MW_MAX_PENDING 16384
#define MW_MAX_PATH_RULES 65536
#define MW_MAX_NET_RULES 16384
#define MW_MAX_LISTEN_RULES 4096
#define MW_MAX_SELECTORS 1024

/* tgid -> state; presence means "watched". The only lookup unwatched tasks pay. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_WATCHED_TASKS);
	__type(key, __u32);
	__type(value, struct mw_task_state);
} watched_tasks SEC(".maps") __weak;

/* workload_id -> config (mode, audit-all, actions). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MW_MAX_WORKLOADS);
	__type(key, __u32);
	__type(value, struct mw_workload_config);
} workloads SEC(".maps") __weak;

/* (workload, path prefix) -> allow bits. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MW_MAX_PATH_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_path_rule_key);
	__type(value, struct mw_path_rule);
} path_rules SEC(".maps") __weak;

/* (workload, port, address/CIDR) -> allowed egress. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MW_MAX_NET_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_net_rule_key);
	__type(value, struct mw_net_rule);
} net_rules SEC(".maps") __weak;

/* (workload, port) -> allowed to bind/listen/accept. Value is reserved (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_LISTEN_RULES);
	__type(key, struct mw_listen_rule_key);
	__type(value, __u32);
} listen_rules SEC(".maps") __weak;

/* Literal prefix of each selector's executable glob -> workload hint. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MW_MAX_SELECTORS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_selector_key);
	__type(value, __u32);
} selector_exe_prefixes SEC(".maps") __weak;

/* cgroup id (cgroup v2 inode) -> workload_id: exec inside marks the task for good. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_SELECTORS);
	__type(key, __u64);
	__type(value, __u32);
} selector_cgroups SEC(".maps") __weak;

/* ---- model files ---------------------------------------------------------------- */
/* Extensions of model artefacts (filled from policy/compile's list) and each workload's
 * models.dirs: a watched open of such a file outside those dirs always reaches user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct mw_model_ext_key);
	__type(value, __u32);
} model_extensions SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MW_MAX_PATH_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_path_rule_key);
	__type(value, __u32);
} model_dirs SEC(".maps") __weak;

/* ---- allow-decision cache for watched opens (bpf/file.bpf.c) ------------------------ */
#define MW_OPEN_CACHE_ENTRIES 16384
#define MW_GEN_POLICY 0     /* bumped by the agent after every policy-map write */
#define MW_GEN_VFS 1        /* bumped in the kernel after every rename, link and mount-tree change */
#define MW_OPEN_CACHE_ON 2  /* 1 while the agent's programs that bump MW_GEN_VFS are attached */

/* Slots, not one struct: the agent rewrites slot 0 while the kernel increments slot 1, and
 * a whole-value update would lose a concurrent increment. A map, not rodata: pinned and
 * adopted with the cache, so a successor agent's counters continue its predecessor's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} open_cache_state SEC(".maps") __weak;

/* An allowed verdict is valid for exactly this key; any change of the generations makes
 * every older entry miss (see mw_open_cache_key in file.bpf.c for why this is enough). */
struct mw_open_cache_key {
	__u64 dentry;
	__u64 mnt;           /* struct mount's mnt_id_unique: never reused */
	__u64 inode;
	__u64 ino;
	__u64 policy_gen;
	__u64 vfs_gen;
	__u32 i_generation;
	__u32 workload_id;
	__u32 need;          /* MW_PATH_ALLOW_READ / _WRITE bits this open needed */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_OPEN_CACHE_ENTRIES);
	__type(key, struct mw_open_cache_key);
	__type(value, __u32);
} open_verdicts SEC(".maps") __weak;

/* ---- accounting --------------------------------------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MW_DROP_REASON_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps") __weak;

/* ---- per-CPU scratch (records and paths are too big for the 512-byte stack) ---- */
struct mw_record_buf {
	__u8 data[MW_RECORD_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_record_buf);
} record_scratch SEC(".maps") __weak;

/* The dentry walk writes backwards into the first half; a relative user path is
 * appended into the second half, so a join is one contiguous string. */
struct mw_path_buf {
	__u8 data[MW_PATH_MAX * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_path_buf);
} path_scratch SEC(".maps") __weak;

/* LPM lookup keys (the path key alone is 256 bytes). The slack lets a copy length
 * masked to 0xff stay inside the value as far as the verifier can tell. */
struct mw_key_buf {
	struct mw_path_rule_key path;
	struct mw_selector_key selector;
	__u8 slack[256];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_key_buf);
} key_scratch SEC(".maps") __weak;

/* ---- syscall entry -> exit ------------------------------------------------------ */
/* Arguments saved at sys_enter for watched tasks, consumed at sys_exit. LRU: a task
 * that dies inside a syscall (or a thread whose tid changes at exec) never reaches
 * sys_exit, so its entry must age out instead of filling the map. */
struct mw_pending_args {
	__u64 args[6];
	__u32 workload_id;
	__u32 task_flags;
	__u32 host_wide;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_PENDING);
	__type(key, __u64);
	__type(value, struct mw_pending_args);
} pending_args SEC(".maps") __weak;

/* ---- enforcement ---------------------------------------------------------------- */
/* What a cgroup sock_addr program denied, keyed by pid_tgid, for the same syscall's
 * sys_exit tracepoint: that program has the task (header, SIGKILL) and the cgroup one
 * does not (bpf_get_current_task_btf and bpf_send_signal are tracing-only helpers). */
struct mw_enforced_syscall {
	__u32 action;               /* enum mw_action */
	__u32 cause_type;           /* MW_EVENT_NET_CONNECT, _SEND or _BIND */
	struct mw_sockaddr addr;
	__u32 socket_type;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_PENDING);
	__type(key, __u64);
	__type(value, struct mw_enforced_syscall);
} enforced_syscalls SEC(".maps") __weak;

/* ---- seccomp learning ------------------------------------------------------------ */
/* workload_id -> syscalls its tasks entered (bpf/seccomp_learn.bpf.c, only when learning). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MW_MAX_WORKLOADS);
	__type(key, __u32);
	__type(value, struct mw_syscall_bitmap);
} seccomp_syscalls SEC(".maps") __weak;

/* tgid -> syscalls a MW_WORKLOAD_PENDING process entered before user space confirmed its
 * workload (ld.so and libc start-up). Only the kernel sets bits; user space moves an entry
 * into its own per-workload copy when it confirms the tgid, and deletes it (see
 * Sensors::mark_task). LRU: processes that never get confirmed age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_PENDING);
	__type(key, __u32);
	__type(value, struct mw_syscall_bitmap);
} seccomp_pending_syscalls SEC(".maps") __weak;

/* cgroup id -> the syscalls a SECCOMP_RET_LOG profile allows, written by `modelwarden exec`
 * through a pin the agent makes. RET_LOG lets the syscall run, so sys_exit pairing cannot
 * see it: sys_enter compares the number with this bitmap instead. */
#define MW_MAX_SECCOMP_LOG_PROFILES 1024
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MW_MAX_SECCOMP_LOG_PROFILES);
	__type(key, __u64);
	__type(value, struct mw_syscall_bitmap);
} seccomp_log_profiles SEC(".maps") __weak;

/* Switches of the seccomp programs, set at load: learning, violation reports, or both. */
const volatile __u32 seccomp_learn __weak = 0;
const volatile __u32 seccomp_violations __weak = 0;

/* pid_tgid -> syscall nr + 1, saved at sys_enter by tasks under a seccomp filter. A
 * sys_exit without it is a syscall seccomp skipped (the kernel runs the filter before
 * the sys_enter tracepoint). LRU: exit_group never returns, its entry ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_MAX_PENDING);
	__type(key, __u64);
	__type(value, __u64);
} seccomp_entered SEC(".maps") __weak;

/* Per CPU: the last process the learning program found unwatched, so a syscall-heavy
 * unwatched process pays an array read instead of a hash lookup (bpf/seccomp_learn.bpf.c). */
struct mw_unwatched_memo {
	__u32 tgid;
	__u32 exec_id;  /* task->self_exec_id: an exec (which may bring a selector mark) invalidates */
	__u64 jiffies;  /* a mark from user space, or a reused pid, invalidates at the next tick */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_unwatched_memo);
} seccomp_unwatched_memo SEC(".maps") __weak;

/* ---- self-protection (bpf/self_protect.bpf.c) ---------------------------------- */
/* The agent's process group: kill(0) and kill(-pgid) reach it. */
const volatile __u32 self_agent_pgid __weak = 0;
/* Set when the self_protect_lsm programs load: they refuse, so the tracepoints do not kill. */
const volatile __u32 self_lsm_deny __weak = 0;

/* Agent thread ids: tkill() names a thread, not the group. Filled by the agent at start and
 * by task_newtask for threads it creates later. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} agent_threads SEC(".maps") __weak;

/* (dev, inode) of the agent's binary, config, pin dir, spool, audit log -> mw_protected_kind.
 * A directory's entry also covers the files directly inside it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct mw_inode_key);
	__type(value, __u32);
} protected_inodes SEC(".maps") __weak;

/* The same objects by path prefix, for syscalls that name a path (unlink, rename, chmod):
 * the kernel cannot resolve a user path to an inode at sys_enter. Key as mw_selector_key. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_selector_key);
	__type(value, __u32);
} protected_paths SEC(".maps") __weak;

/* The agent's own links and programs ((kind << 32) | id): a detach of one is tampering. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u64);
	__type(value, __u32);
} self_bpf_objects SEC(".maps") __weak;

/* ---- output --------------------------------------------------------------------- */
/* Resized by the agent at load time (default 16 MiB, a power of two). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps") __weak;

#endif /* MW_BPF_MAPS_H */
