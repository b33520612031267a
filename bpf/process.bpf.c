// SPDX-License-Identifier: GPL-2.0-only
/* Process lifecycle: fork (mark inheritance), exec (event + selector marking), exit,
 * and failed execve/execveat attempts. */
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

#define MW_SIGNAL_GROUP_EXIT 0x00000004

/* Children of a watched process inherit the mark before they run a single
 * instruction, so a shell spawned by a compromised server is never unwatched. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct mw_task_state *state;
	struct mw_task_state inherited;
	struct mw_fork_event *ev;
	__u32 child_tgid = child->tgid;
	__u32 parent_tgid = parent->tgid;

	if (child->pid != child_tgid)
		return 0; /* a new thread: the process is already covered by its tgid */
	state = mw_watched(parent_tgid);
	if (!state)
		return 0;
	inherited = *state;
	if (bpf_map_update_elem(&watched_tasks, &child_tgid, &inherited, BPF_ANY))
		mw_count_drop(MW_DROP_TASK_MAP_FULL);

	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_PROCESS_FORK, inherited.flags & MW_FLAG_PROVISIONAL,
		       inherited.workload_id);
	ev->child_pid = child_tgid;
	ev->_pad = 0;
	ev->child_start_time_ns = child->start_boottime;
	return mw_submit(ev, sizeof(*ev));
}

struct mw_args_walk {
	unsigned long arg_start;
	unsigned long arg_end;
	__u32 off;      /* where args start in the record */
	__u32 used;     /* bytes stored so far */
	__u32 argc;
	__u32 truncated;
};

static long mw_args_step(__u32 index, void *data)
{
	struct mw_args_walk *w = data;
	__u8 *record = mw_record_scratch();
	__u32 room, at;
	long n;

	if (!record || index >= w->argc || w->arg_start + w->used >= w->arg_end)
		return 1;
	if (w->used >= MW_ARGS_MAX_BYTES - 1) {
		w->truncated = 1;
		return 1;
	}
	room = MW_ARGS_MAX_BYTES - w->used;
	at = w->off + w->used;
	mw_barrier_var(room);
	mw_barrier_var(at);
	n = bpf_probe_read_user_str(record + (at & MW_DATA_OFF_MASK), room & (2 * MW_ARGS_MAX_BYTES - 1),
				    (const void *)(w->arg_start + w->used));
	if (n <= 0)
		return 1;
	w->used += n;
	if (w->used >= MW_ARGS_MAX_BYTES) {
		w->truncated = 1; /* the string was cut at the byte bound */
		return 1;
	}
	return 0;
}

/* Copies argv of the new image (already in the new mm), NUL-separated. */
static __always_inline void mw_copy_args(struct mw_exec_event *ev, __u32 *off, __u32 argc,
					 __u32 *flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_args_walk w = {};

	w.arg_start = BPF_CORE_READ(task, mm, arg_start);
	w.arg_end = BPF_CORE_READ(task, mm, arg_end);
	w.off = *off;
	w.argc = argc;
	bpf_loop(MW_ARGS_MAX_COUNT, mw_args_step, &w, 0);
	if (w.truncated || argc > MW_ARGS_MAX_COUNT)
		*flags |= MW_FLAG_TRUNCATED;
	if (w.used > MW_ARGS_MAX_BYTES)
		w.used = MW_ARGS_MAX_BYTES;
	ev->args_len = w.used;
	*off += w.used;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_task_state *state = mw_watched(tgid);
	struct mw_task_state mark = {};
	struct mw_path_span exe;
	struct mw_exec_event *ev;
	__u32 flags = 0, off, enforced_action = 0;
	__s32 enforced_result = 0;
	__u8 *buf;

	buf = mw_path_scratch();
	if (!buf)
		return 0;
	exe = mw_render_file(buf, BPF_CORE_READ(bprm, file));

	if (state) {
		struct mw_workload_config *wl;

		mark = *state;
		flags = mark.flags & MW_FLAG_PROVISIONAL;
		/* A member's exec outside the allow list: SIGKILL here, in the execve that loaded
		 * the image, is delivered before execve returns, so the new image runs zero
		 * user-space instructions. The path is the resolved file, as user space sees it. */
		wl = mw_enforcing(mark.workload_id);
		if (wl && (wl->exec_action == MW_ACTION_KILL || wl->exec_action == MW_ACTION_ISOLATE) &&
		    mw_exec_verdict(mark.workload_id, buf, exe) == MW_VERDICT_VIOLATION) {
			if (wl->exec_action == MW_ACTION_KILL) {
				enforced_result = mw_kill_current();
			} else {
				mw_isolate(wl);
				enforced_result = 0;
			}
			enforced_action = wl->exec_action;
			flags |= MW_FLAG_ENFORCED;
		}
	} else {
		__u64 cgroup_id = bpf_get_current_cgroup_id();
		__u32 *cgroup_workload = bpf_map_lookup_elem(&selector_cgroups, &cgroup_id);

		if (cgroup_workload) {
			/* selected by cgroup: user space still checks the rest of the selector */
			mark.workload_id = *cgroup_workload;
			flags = MW_FLAG_HOST_WIDE;
		} else if (mw_exe_selected(buf, exe)) {
			/* a glob prefix matched: user space checks the whole glob and the
			 * command line, then confirms or unmarks */
			mark.workload_id = MW_WORKLOAD_PENDING;
			mark.flags = MW_FLAG_PROVISIONAL;
			flags = MW_FLAG_PROVISIONAL | MW_FLAG_HOST_WIDE;
		} else {
			return 0;
		}
		if (bpf_map_update_elem(&watched_tasks, &tgid, &mark, BPF_ANY))
			mw_count_drop(MW_DROP_TASK_MAP_FULL);
	}

	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_PROCESS_EXEC, 0, mark.workload_id);
	ev->argc = BPF_CORE_READ(bprm, argc);
	ev->old_pid = old_pid;
	ev->_pad = 0;
	off = sizeof(*ev);

	if (exe.len) {
		flags |= MW_FLAG_PATH_RESOLVED;
		ev->filename_len = mw_copy_span(ev, &off, buf, exe, &flags);
	} else {
		/* no file to resolve: fall back to the name exec was given */
		long n = bpf_probe_read_kernel_str((__u8 *)ev + (off & MW_DATA_OFF_MASK), MW_PATH_MAX,
						   BPF_CORE_READ(bprm, filename));
		ev->filename_len = n > 0 ? n : 0;
		off += ev->filename_len;
	}

	mw_copy_args(ev, &off, ev->argc, &flags);

	{
		struct task_struct *task = bpf_get_current_task_btf();
		struct path pwd = BPF_CORE_READ(task, fs, pwd);
		struct mw_path_span cwd = mw_render_path(buf, &pwd);

		ev->cwd_len = mw_copy_span(ev, &off, buf, cwd, &flags);
	}
	ev->hdr.flags = flags;
	mw_submit(ev, off);
	if (enforced_action) {
		/* after the exec record, so user space knows the new image when it alerts;
		 * the cwd render above reused the path scratch: render the exe again */
		exe = mw_render_file(buf, BPF_CORE_READ(bprm, file));
		mw_emit_enforcement(mark.workload_id, flags & (MW_FLAG_PROVISIONAL | MW_FLAG_TRUNCATED),
				    enforced_action, MW_EVENT_PROCESS_EXEC, enforced_result, buf, exe, NULL, 0, 0);
	}
	return 0;
}

/* The process is gone when its last thread exits; only then is the mark removed. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_sched_exit, struct task_struct *p)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_task_state *state = mw_watched(tgid);
	struct mw_exit_event *ev;
	struct signal_struct *signal;
	__u32 workload_id, flags;

	if (!state)
		return 0;
	signal = p->signal;
	if (BPF_CORE_READ(signal, live.counter) != 0)
		return 0; /* other threads still run */
	workload_id = state->workload_id;
	flags = state->flags & MW_FLAG_PROVISIONAL;
	bpf_map_delete_elem(&watched_tasks, &tgid);

	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_PROCESS_EXIT, flags, workload_id);
	if (BPF_CORE_READ(signal, flags) & MW_SIGNAL_GROUP_EXIT)
		ev->exit_code = BPF_CORE_READ(signal, group_exit_code);
	else
		ev->exit_code = p->exit_code;
	ev->_pad = 0;
	return mw_submit(ev, sizeof(*ev));
}

/* ---- execve / execveat: only failures are reported (success = the exec event) ---- */
MW_SYSCALL_ENTER(execve, 3)
MW_SYSCALL_ENTER(execveat, 5)

static __always_inline int mw_exec_attempt(__s64 ret, const struct mw_pending_args *p, __s32 dirfd,
					   const char *filename, __u32 at_flags)
{
	struct mw_exec_attempt_event *ev;
	__u32 flags = mw_task_event_flags(p);
	long n;

	struct mw_enforced_syscall enforced;

	if (ret >= 0)
		return 0;
	if (mw_take_enforced(MW_EVENT_EXEC_ATTEMPT, &enforced))
		flags |= MW_FLAG_ENFORCED; /* BPF-LSM refused it; its record carries the alert */
	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_EXEC_ATTEMPT, 0, p->workload_id);
	ev->result = ret;
	ev->dirfd = dirfd;
	ev->at_flags = at_flags;
	ev->_pad[0] = ev->_pad[1] = ev->_pad[2] = 0;
	n = bpf_probe_read_user_str(ev->data, MW_PATH_MAX, filename);
	ev->filename_len = n > 0 ? n : 0;
	if (n == MW_PATH_MAX)
		flags |= MW_FLAG_TRUNCATED;
	ev->hdr.flags = flags;
	return mw_submit(ev, sizeof(*ev) + ev->filename_len);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int handle_sys_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p))
		return 0;
	return mw_exec_attempt(ctx->ret, &p, MW_AT_FDCWD, (const char *)p.args[0], 0);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int handle_sys_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p))
		return 0;
	return mw_exec_attempt(ctx->ret, &p, (__s32)p.args[0], (const char *)p.args[1],
			       (__u32)p.args[4]);
}
