// SPDX-License-Identifier: GPL-2.0-only
/* seccomp least privilege: learn the syscall set of each watched workload (a bitmap per
 * workload, no event per syscall) and report syscalls a seccomp filter stopped. */
#include "helpers.h"

char LICENSE[] SEC("license") = "GPL";

/* The launcher's own execve number (uapi, stable per architecture). */
#if defined(__TARGET_ARCH_x86)
#define MW_NR_EXECVE 59
#elif defined(__TARGET_ARCH_arm64)
#define MW_NR_EXECVE 221
#endif

#define MW_SECCOMP_MODE_FILTER 2
#define MW_SECCOMP_MODE_DEAD 3 /* set by __seccomp_filter before it kills the task */
#define MW_MAX_ERRNO 4095

static __always_inline void mw_set_bit(struct mw_syscall_bitmap *seen, long id)
{
	__u64 bit = 1ull << (id & 63);

	/* Read first: after warm-up every bit is set and no CPU dirties the shared line. */
	if (!(seen->words[(id >> 6) & (MW_SYSCALL_BITMAP_WORDS - 1)] & bit))
		__sync_fetch_and_or(&seen->words[(id >> 6) & (MW_SYSCALL_BITMAP_WORDS - 1)], bit);
}

static __always_inline void mw_learn(struct mw_task_state *state, __u32 tgid, long id)
{
	struct mw_syscall_bitmap *seen;
	__u32 workload_id = state->workload_id;

	if (id < 0 || id >= MW_SYSCALL_BITMAP_WORDS * 64)
		return;
	if ((state->flags & MW_TASK_SKIP_FIRST_EXEC) && id == MW_NR_EXECVE) {
		state->flags &= ~MW_TASK_SKIP_FIRST_EXEC; /* only this task writes its entry now */
		return;
	}
	if (workload_id == MW_WORKLOAD_PENDING) {
		/* Not confirmed yet, but ld.so and libc start-up happen now, and a profile without
		 * them kills the server at its first instruction: keep them per process until user
		 * space confirms the workload (or not) and moves them. */
		seen = bpf_map_lookup_elem(&seccomp_pending_syscalls, &tgid);
		if (!seen) {
			struct mw_syscall_bitmap empty = {};

			/* NOEXIST: another thread of the process may have created it meanwhile. */
			bpf_map_update_elem(&seccomp_pending_syscalls, &tgid, &empty, BPF_NOEXIST);
			seen = bpf_map_lookup_elem(&seccomp_pending_syscalls, &tgid);
			if (!seen)
				return;
		}
		mw_set_bit(seen, id);
		return;
	}
	if (workload_id >= MW_MAX_WORKLOADS)
		return;
	seen = bpf_map_lookup_elem(&seccomp_syscalls, &workload_id);
	if (seen)
		mw_set_bit(seen, id);
}

/* Syscall registers by hand: libbpf 1.1 has no PT_REGS_PARM6_CORE_SYSCALL. Valid at sys_enter
 * and sys_exit alike (arm64 keeps the first argument in orig_x0 once x0 holds the result). */
static __always_inline void mw_syscall_args(struct mw_seccomp_event *ev, struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	ev->args[0] = BPF_CORE_READ(regs, di);
	ev->args[1] = BPF_CORE_READ(regs, si);
	ev->args[2] = BPF_CORE_READ(regs, dx);
	ev->args[3] = BPF_CORE_READ(regs, r10);
	ev->args[4] = BPF_CORE_READ(regs, r8);
	ev->args[5] = BPF_CORE_READ(regs, r9);
#elif defined(__TARGET_ARCH_arm64)
	ev->args[0] = BPF_CORE_READ(regs, orig_x0);
	ev->args[1] = BPF_CORE_READ(regs, regs[1]);
	ev->args[2] = BPF_CORE_READ(regs, regs[2]);
	ev->args[3] = BPF_CORE_READ(regs, regs[3]);
	ev->args[4] = BPF_CORE_READ(regs, regs[4]);
	ev->args[5] = BPF_CORE_READ(regs, regs[5]);
#endif
}

/* A filtered task in a cgroup whose profile logs instead of blocking (`exec --seccomp` with
 * action log registered it): a syscall outside the profile runs, so report it here, once,
 * at its entry. True when it was reported: such a syscall is not learned either, or one
 * logging window would grow the profile by exactly what it flagged. */
static __always_inline bool mw_report_logged(const struct mw_task_state *state, struct pt_regs *regs, long id)
{
	struct mw_syscall_bitmap *allowed;
	struct mw_seccomp_event *ev;
	__u64 cgroup_id;

	if (id < 0 || id >= MW_SYSCALL_BITMAP_WORDS * 64)
		return false;
	cgroup_id = bpf_get_current_cgroup_id();
	allowed = bpf_map_lookup_elem(&seccomp_log_profiles, &cgroup_id);
	if (!allowed)
		return false;
	if (allowed->words[(id >> 6) & (MW_SYSCALL_BITMAP_WORDS - 1)] & (1ull << (id & 63)))
		return false;
	ev = mw_record_scratch();
	if (!ev)
		return true;
	mw_fill_header(&ev->hdr, MW_EVENT_SECCOMP, state->flags & MW_FLAG_PROVISIONAL, state->workload_id);
	ev->syscall_nr = (__u32)id;
	mw_syscall_args(ev, regs);
	ev->result = 0; /* not run yet */
	ev->action = MW_SECCOMP_LOG;
	mw_submit(ev, sizeof(*ev));
	return true;
}

/* True when this CPU last found this very process (same tgid, same image, same tick)
 * unwatched. Only in learning-only mode: violation pairing needs the exact answer at
 * sys_enter, because sys_exit (which has no memo) would report a missed entry as blocked. */
static __always_inline bool mw_memo_unwatched(struct mw_unwatched_memo *memo, __u32 tgid, __u32 exec_id,
					      __u64 now)
{
	return memo && memo->tgid == tgid && memo->exec_id == exec_id && memo->jiffies == now;
}

/* Off by default (autoload): raw_tp/sys_enter runs on every syscall of the host, so the
 * agent loads it only when learning or violation reports were asked for at start-up. */
SEC("raw_tp/sys_enter")
int BPF_PROG(handle_seccomp_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct mw_task_state *state;
	struct task_struct *task;
	__u64 entered;

	if (!seccomp_violations) {
		/* The path every unwatched process on the host takes: a per-CPU array read and
		 * no hash lookup while one process keeps this CPU within a tick. */
		__u32 zero = 0;
		struct mw_unwatched_memo *memo = bpf_map_lookup_elem(&seccomp_unwatched_memo, &zero);
		__u32 exec_id;
		__u64 now;

		task = bpf_get_current_task_btf();
		exec_id = (__u32)task->self_exec_id;
		now = bpf_jiffies64();
		if (mw_memo_unwatched(memo, pid_tgid >> 32, exec_id, now))
			return 0;
		state = mw_watched(pid_tgid >> 32);
		if (!state) {
			if (memo) {
				memo->tgid = pid_tgid >> 32;
				memo->exec_id = exec_id;
				memo->jiffies = now;
			}
			return 0;
		}
		mw_learn(state, pid_tgid >> 32, id);
		return 0;
	}
	state = mw_watched(pid_tgid >> 32);
	if (!state)
		return 0;
	task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(task, seccomp.mode) != MW_SECCOMP_MODE_FILTER) {
		if (seccomp_learn)
			mw_learn(state, pid_tgid >> 32, id);
		return 0;
	}
	if (!mw_report_logged(state, regs, id) && seccomp_learn)
		mw_learn(state, pid_tgid >> 32, id);
	/* Also for a logged syscall: it runs, and its exit must pair with this entry. */
	entered = (__u64)id + 1;
	bpf_map_update_elem(&seccomp_entered, &pid_tgid, &entered, BPF_ANY);
	return 0;
}

/* A filtered task's syscall that reaches sys_exit without a sys_enter was skipped by
 * seccomp: RET_ERRNO (return value already -errno), RET_KILL_* (mode DEAD, SIGSYS on the
 * way back to user space), TRAP/TRACE. RET_LOG lets the syscall run: mw_report_logged.
 * fexit on __secure_computing would be cheaper, but tracing attach is refused here. */
SEC("raw_tp/sys_exit")
int BPF_PROG(handle_seccomp_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct mw_task_state *state = mw_watched(pid_tgid >> 32);
	struct mw_seccomp_event *ev;
	struct task_struct *task;
	__u64 *entered;
	__u64 nr;
	__u32 mode;

	if (!state)
		return 0;
	task = bpf_get_current_task_btf();
	mode = BPF_CORE_READ(task, seccomp.mode);
	if (mode != MW_SECCOMP_MODE_FILTER && mode != MW_SECCOMP_MODE_DEAD)
		return 0;
#if defined(__TARGET_ARCH_x86)
	nr = BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	nr = BPF_CORE_READ(regs, syscallno);
#endif
	entered = bpf_map_lookup_elem(&seccomp_entered, &pid_tgid);
	if (entered) {
		__u64 was = *entered;

		bpf_map_delete_elem(&seccomp_entered, &pid_tgid);
		if (was == nr + 1)
			return 0; /* ran normally */
	}
	/* Success without a matching entry: the filter install itself, or a non-leader
	 * thread's exec (its tid changed). Neither was stopped. */
	if (mode != MW_SECCOMP_MODE_DEAD && (ret >= 0 || ret < -MW_MAX_ERRNO))
		return 0;
	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_SECCOMP, state->flags & MW_FLAG_PROVISIONAL, state->workload_id);
	ev->syscall_nr = (__u32)nr;
	mw_syscall_args(ev, regs);
	ev->result = ret;
	if (mode == MW_SECCOMP_MODE_DEAD)
		ev->action = MW_SECCOMP_KILL;
	else
		ev->action = MW_SECCOMP_ERRNO;
	return mw_submit(ev, sizeof(*ev));
}
