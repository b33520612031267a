// SPDX-License-Identifier: GPL-2.0-only
/* Self-protection: any process but the agent that signals, ptraces or reads/writes the
 * agent's memory, writes or removes its files, or detaches its BPF programs is reported
 * (MW_EVENT_SELF_PROTECT); a watched task in enforce mode is also SIGKILLed at sys_enter.
 * Every program here is "?"-sectioned: off unless the agent switches it on (selfprotect). */
#include "self_protect.h"

char LICENSE[] SEC("license") = "GPL";

/* Copies the syscall's first `nargs` (<= 4) arguments: reading past the tracepoint's own
 * arguments makes the attach fail (see mw_save_args). */
#define MW_COPY_ARGS(ctx, nargs, a)                      \
	do {                                             \
		if ((nargs) > 0) (a)[0] = (ctx)->args[0]; \
		if ((nargs) > 1) (a)[1] = (ctx)->args[1]; \
		if ((nargs) > 2) (a)[2] = (ctx)->args[2]; \
		if ((nargs) > 3) (a)[3] = (ctx)->args[3]; \
	} while (0)

/* One program per syscall tracepoint, self_<enter|exit>_<syscall> (the skeleton's member
 * names), that hands its context to handler with any further arguments. */
#define MW_SELF_SYSCALL(dir, name, handler, ...)                                 \
	SEC("?tracepoint/syscalls/sys_" #dir "_" #name)                          \
	int self_##dir##_##name(struct trace_event_raw_sys_##dir *ctx)           \
	{                                                                        \
		return handler(ctx, ##__VA_ARGS__);                              \
	}

/* The first `nargs` arguments into a for a call by any process but the agent, whose own
 * signals, ptrace and file changes are never tampering; false for the agent's calls. */
static __always_inline bool mw_foreign_args(struct trace_event_raw_sys_enter *ctx, int nargs, __u64 *a)
{
	if (mw_is_agent())
		return false;
	MW_COPY_ARGS(ctx, nargs, a);
	return true;
}

static __always_inline int mw_tamper_signal(long nr, const __u64 *args, __u32 target, __s32 sig)
{
	struct mw_tamper t = { .kind = MW_TAMPER_SIGNAL, .target_pid = target, .signal = sig };
	struct mw_path_span none = {};

	return mw_tamper_emit(nr, args, &t, NULL, none);
}

/* ---- signals ---------------------------------------------------------------------- */
/* kill(pid): the agent's tgid, its process group (0 = the caller's group, -pgid), or -1
 * (every process the caller may signal: root may signal the agent). */
static __always_inline bool mw_kill_reaches_agent(__s32 pid)
{
	struct task_struct *task;
	struct pid *pgrp;

	if (pid > 0)
		return (__u32)pid == agent_tgid;
	if (pid == -1)
		return (__u32)bpf_get_current_uid_gid() == 0;
	if (pid < -1)
		return self_agent_pgid != 0 && (__u32)(-pid) == self_agent_pgid;
	task = bpf_get_current_task_btf();
	pgrp = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]);
	return self_agent_pgid != 0 && BPF_CORE_READ(pgrp, numbers[0].nr) == (int)self_agent_pgid;
}

SEC("?tracepoint/syscalls/sys_enter_kill")
int self_enter_kill(struct trace_event_raw_sys_enter *ctx)
{
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, 2, a))
		return 0;
	if (!mw_kill_reaches_agent((__s32)a[0]))
		return 0;
	return mw_tamper_signal(ctx->id, a, (__s32)a[0] > 0 ? (__u32)a[0] : agent_tgid, (__s32)a[1]);
}

/* The signal syscalls that name their target by number differ only in where the numbers
 * stand: tgid_arg < 0 (tkill) names a thread alone, which must be one of the agent's;
 * otherwise the thread group must be the agent's. tid_arg is the target reported. */
static __always_inline int mw_tamper_signal_nr(struct trace_event_raw_sys_enter *ctx, int nargs, int tgid_arg,
					       int tid_arg, int sig_arg)
{
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, nargs, a))
		return 0;
	if (tgid_arg < 0 ? !mw_agent_tid((__u32)a[tid_arg & 3]) : (__u32)a[tgid_arg & 3] != agent_tgid)
		return 0;
	return mw_tamper_signal(ctx->id, a, (__u32)a[tid_arg & 3], (__s32)a[sig_arg & 3]);
}

MW_SELF_SYSCALL(enter, tkill, mw_tamper_signal_nr, 2, -1, 0, 1)
MW_SELF_SYSCALL(enter, tgkill, mw_tamper_signal_nr, 3, 0, 1, 2)
MW_SELF_SYSCALL(enter, rt_sigqueueinfo, mw_tamper_signal_nr, 3, 0, 0, 1)
MW_SELF_SYSCALL(enter, rt_tgsigqueueinfo, mw_tamper_signal_nr, 4, 0, 1, 2)

/* pidfd -> struct pid in the kernel: a pidfs file keeps its struct pid in private_data. */
SEC("?tracepoint/syscalls/sys_enter_pidfd_send_signal")
int self_enter_pidfd_send_signal(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *file;
	struct pid *pid;
	__u64 a[4] = {};
	__u32 nr;

	if (!mw_foreign_args(ctx, 4, a))
		return 0;
	file = mw_fd_file(task, (__s32)a[0]);
	if (!file || BPF_CORE_READ(file, f_inode, i_sb, s_magic) != MW_PIDFS_MAGIC)
		return 0;
	pid = BPF_CORE_READ(file, private_data);
	nr = BPF_CORE_READ(pid, numbers[0].nr);
	if (BPF_CORE_READ(file, f_flags) & MW_PIDFD_THREAD ? !mw_agent_tid(nr) : nr != agent_tgid)
		return 0;
	return mw_tamper_signal(ctx->id, a, nr, (__s32)a[1]);
}

/* ---- ptrace, process_vm ------------------------------------------------------------- */
/* Another process naming one of the agent's threads: ptrace's pid is argument 1 (TRACEME
 * names no one), process_vm_readv/writev's is argument 0. */
static __always_inline int mw_tamper_task(struct trace_event_raw_sys_enter *ctx, __u32 kind, int pid_arg)
{
	struct mw_tamper t = { .kind = kind };
	struct mw_path_span none = {};
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, 4, a))
		return 0;
	if (kind == MW_TAMPER_PTRACE && a[0] == MW_PTRACE_TRACEME)
		return 0;
	if (!mw_agent_tid((__u32)a[pid_arg & 3]))
		return 0;
	t.target_pid = (__u32)a[pid_arg & 3];
	return mw_tamper_emit(ctx->id, a, &t, NULL, none);
}

MW_SELF_SYSCALL(enter, ptrace, mw_tamper_task, MW_TAMPER_PTRACE, 1)
MW_SELF_SYSCALL(enter, process_vm_readv, mw_tamper_task, MW_TAMPER_PROCESS_VM, 0)
MW_SELF_SYSCALL(enter, process_vm_writev, mw_tamper_task, MW_TAMPER_PROCESS_VM, 0)

/* ---- bpf(): detaching or replacing the agent's programs ------------------------------- */

SEC("?tracepoint/syscalls/sys_enter_bpf")
int self_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	struct mw_tamper t = { .kind = MW_TAMPER_BPF };
	struct mw_path_span none = {};
	__u32 fds[2] = {};
	__u64 a[4] = {};
	__u64 key;

	if (!mw_foreign_args(ctx, 3, a))
		return 0;
	if (a[0] != MW_BPF_LINK_DETACH && a[0] != MW_BPF_LINK_UPDATE && a[0] != MW_BPF_PROG_DETACH)
		return 0;
	/* link_detach/link_update: link_fd at offset 0; prog_detach: attach_bpf_fd at 4 */
	if (bpf_probe_read_user(fds, sizeof(fds), (const void *)a[1]))
		return 0;
	key = a[0] == MW_BPF_PROG_DETACH ? mw_bpf_fd_id((__s32)fds[1], false) : mw_bpf_fd_id((__s32)fds[0], true);
	if (!key || !bpf_map_lookup_elem(&self_bpf_objects, &key))
		return 0;
	t.object_id = key & 0xffffffffull;
	return mw_tamper_emit(ctx->id, a, &t, NULL, none);
}

/* Agent threads created after start (asio, sinks): tkill/ptrace name threads. */
SEC("?tp_btf/task_newtask")
int BPF_PROG(self_task_newtask, struct task_struct *task, __u64 clone_flags)
{
	__u32 tid, one = 1;

	if (!(clone_flags & MW_CLONE_THREAD) || !mw_is_agent())
		return 0;
	tid = task->pid;
	bpf_map_update_elem(&agent_threads, &tid, &one, BPF_ANY);
	return 0;
}

/* ---- files: by inode where the syscall gives a file, by path where it names one --------- */

static __always_inline int mw_tamper_fd(long nr, const __u64 *args, __s32 fd, __s64 result, bool need_write)
{
	struct file *file = mw_fd_file(bpf_get_current_task_btf(), fd);
	struct mw_tamper t = { .kind = MW_TAMPER_FILE, .result = result };
	struct mw_inode_key key;
	struct mw_path_span span;
	__u8 *buf;

	if (!file)
		return 0;
	if (need_write && !(BPF_CORE_READ(file, f_mode) & MW_FMODE_WRITE))
		return 0;
	t.protected_kind = mw_file_protected(file, &key);
	if (!t.protected_kind)
		return 0;
	t.object_id = key.ino;
	t.dev = key.dev;
	buf = mw_path_scratch();
	if (!buf)
		return 0;
	span = mw_render_file(buf, file);
	return mw_tamper_emit(nr, args, &t, buf, span);
}

/* A successful open for writing (O_TRUNC and O_CREAT need it too) of a protected inode. */
static __always_inline int mw_tamper_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 a[4] = {};

	if (ctx->ret < 0 || mw_is_agent())
		return 0;
	return mw_tamper_fd(ctx->id, a, (__s32)ctx->ret, ctx->ret, true);
}

MW_SELF_SYSCALL(exit, openat, mw_tamper_open_exit)
MW_SELF_SYSCALL(exit, openat2, mw_tamper_open_exit)
MW_SELF_SYSCALL(exit, open, mw_tamper_open_exit)
MW_SELF_SYSCALL(exit, creat, mw_tamper_open_exit)

/* The fd-based changes: ftruncate, fchmod, fchown (fd in argument 0). */
static __always_inline int mw_tamper_fd_enter(struct trace_event_raw_sys_enter *ctx, int nargs)
{
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, nargs, a))
		return 0;
	return mw_tamper_fd(ctx->id, a, (__s32)a[0], 0, false);
}

MW_SELF_SYSCALL(enter, ftruncate, mw_tamper_fd_enter, 2)
MW_SELF_SYSCALL(enter, fchmod, mw_tamper_fd_enter, 2)
MW_SELF_SYSCALL(enter, fchown, mw_tamper_fd_enter, 3)

/* A user path (resolved against cwd or dirfd) under a protected path prefix: reported,
 * true. The string is what the syscall will walk: a symlink or ".." in it is not followed. */
static __always_inline bool mw_tamper_path(long nr, const __u64 *args, __s64 dirfd, const char *upath)
{
	struct mw_tamper t = { .kind = MW_TAMPER_FILE };
	struct mw_path_span span;
	struct mw_key_buf *keys;
	__u32 len, *kind;
	__u8 *buf;

	buf = mw_path_scratch();
	if (!buf)
		return 0;
	span = mw_user_path(buf, bpf_get_current_task_btf(), dirfd, upath);
	len = span.len;
	if (len == 0 || span.truncated || len > MW_LPM_PATH_BYTES)
		return false;
	keys = mw_key_scratch();
	if (!keys)
		return false;
	mw_barrier_var(len);
	if (bpf_probe_read_kernel(keys->selector.path, len & 0xff, buf + (span.start & (2 * MW_PATH_MAX - 1))))
		return false;
	keys->selector.path[(len - 1) & 0xff] = 0;
	keys->selector.prefixlen = 8 * len;
	kind = bpf_map_lookup_elem(&protected_paths, &keys->selector);
	if (!kind)
		return false;
	t.protected_kind = *kind;
	mw_tamper_emit(nr, args, &t, buf, span);
	return true;
}

/* The path-based changes: dirfd_arg < 0 means the path is relative to the cwd. */
static __always_inline int mw_tamper_path_enter(struct trace_event_raw_sys_enter *ctx, int nargs, int dirfd_arg,
						int path_arg)
{
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, nargs, a))
		return 0;
	mw_tamper_path(ctx->id, a, dirfd_arg < 0 ? MW_AT_FDCWD : (__s32)a[dirfd_arg & 3], (const char *)a[path_arg & 3]);
	return 0;
}

MW_SELF_SYSCALL(enter, unlink, mw_tamper_path_enter, 1, -1, 0)
MW_SELF_SYSCALL(enter, unlinkat, mw_tamper_path_enter, 3, 0, 1)
MW_SELF_SYSCALL(enter, rmdir, mw_tamper_path_enter, 1, -1, 0)
MW_SELF_SYSCALL(enter, truncate, mw_tamper_path_enter, 2, -1, 0)
MW_SELF_SYSCALL(enter, chmod, mw_tamper_path_enter, 2, -1, 0)
MW_SELF_SYSCALL(enter, fchmodat, mw_tamper_path_enter, 3, 0, 1)
MW_SELF_SYSCALL(enter, chown, mw_tamper_path_enter, 3, -1, 0)
MW_SELF_SYSCALL(enter, lchown, mw_tamper_path_enter, 3, -1, 0)
MW_SELF_SYSCALL(enter, fchownat, mw_tamper_path_enter, 4, 0, 1)

/* rename: the source (moving the agent's file away) or the destination (replacing it). */
static __always_inline int mw_tamper_rename(long nr, const __u64 *args, __s64 olddir, const char *oldpath,
					    __s64 newdir, const char *newpath)
{
	if (!mw_tamper_path(nr, args, olddir, oldpath))
		mw_tamper_path(nr, args, newdir, newpath);
	return 0;
}

SEC("?tracepoint/syscalls/sys_enter_rename")
int self_enter_rename(struct trace_event_raw_sys_enter *ctx)
{
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, 2, a))
		return 0;
	return mw_tamper_rename(ctx->id, a, MW_AT_FDCWD, (const char *)a[0], MW_AT_FDCWD, (const char *)a[1]);
}

/* renameat and renameat2 (whose flags do not change what is moved or replaced). */
static __always_inline int mw_tamper_renameat(struct trace_event_raw_sys_enter *ctx)
{
	__u64 a[4] = {};

	if (!mw_foreign_args(ctx, 4, a))
		return 0;
	return mw_tamper_rename(ctx->id, a, (__s32)a[0], (const char *)a[1], (__s32)a[2], (const char *)a[3]);
}

MW_SELF_SYSCALL(enter, renameat, mw_tamper_renameat)
MW_SELF_SYSCALL(enter, renameat2, mw_tamper_renameat)
