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

#define MW_SECCOMP_MODE_DEAD 3 /* set by __seccomp_filter before it kills the task */
#define MW_MAX_ERRNO 4095

/* Off by default (autoload): the agent switches it on only when learning was requested,
 * so a host that does not learn pays nothing on its hottest path. */
SEC("raw_tp/sys_enter")
int BPF_PROG(handle_seccomp_learn, struct pt_regs *regs, long id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_task_state *state = mw_watched(tgid);
	struct mw_syscall_bitmap *seen;
	__u32 workload_id;
	__u64 bit;

	if (!state || id < 0 || id >= MW_SYSCALL_BITMAP_WORDS * 64)
		return 0;
	workload_id = state->workload_id;
	if (workload_id >= MW_MAX_WORKLOADS)
		return 0; /* provisional: the set belongs to a confirmed workload only */
	if ((state->flags & MW_TASK_SKIP_FIRST_EXEC) && id == MW_NR_EXECVE) {
		state->flags &= ~MW_TASK_SKIP_FIRST_EXEC; /* only this task writes its entry now */
		return 0;
	}
	seen = bpf_map_lookup_elem(&seccomp_syscalls, &workload_id);
	if (!seen)
		return 0;
	bit = 1ull << (id & 63);
	/* Read first: after warm-up every bit is set and no CPU dirties the shared line. */
	if (!(seen->words[(id >> 6) & (MW_SYSCALL_BITMAP_WORDS - 1)] & bit))
		__sync_fetch_and_or(&seen->words[(id >> 6) & (MW_SYSCALL_BITMAP_WORDS - 1)], bit);
	return 0;
}

/* __secure_computing() runs only for tasks that have a filter, so unconfined tasks never
 * reach this program. It returns -1 when the syscall is skipped: RET_ERRNO (return value
 * already set to -errno), RET_KILL_* (mode set to DEAD, SIGSYS forced), TRAP/TRACE/NOTIF.
 * RET_LOG and RET_ALLOW return 0: a logged syscall runs and is not reported here. */
SEC("fexit/__secure_computing")
int BPF_PROG(handle_seccomp_verdict, int ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_task_state *state;
	struct task_struct *task;
	struct mw_seccomp_event *ev;
	struct pt_regs *regs;
	__s64 rc;

	if (ret != -1)
		return 0;
	state = mw_watched(tgid);
	if (!state)
		return 0;
	ev = mw_record_scratch();
	if (!ev)
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	mw_fill_header(&ev->hdr, MW_EVENT_SECCOMP, state->flags & MW_FLAG_PROVISIONAL, state->workload_id);
	/* Syscall registers by hand: libbpf 1.1 has no PT_REGS_PARM6_CORE_SYSCALL. */
#if defined(__TARGET_ARCH_x86)
	ev->syscall_nr = (__u32)BPF_CORE_READ(regs, orig_ax);
	ev->args[0] = BPF_CORE_READ(regs, di);
	ev->args[1] = BPF_CORE_READ(regs, si);
	ev->args[2] = BPF_CORE_READ(regs, dx);
	ev->args[3] = BPF_CORE_READ(regs, r10);
	ev->args[4] = BPF_CORE_READ(regs, r8);
	ev->args[5] = BPF_CORE_READ(regs, r9);
	rc = (__s64)BPF_CORE_READ(regs, ax);
#elif defined(__TARGET_ARCH_arm64)
	ev->syscall_nr = (__u32)BPF_CORE_READ(regs, syscallno);
	ev->args[0] = BPF_CORE_READ(regs, orig_x0); /* x0 already holds the return value */
	ev->args[1] = BPF_CORE_READ(regs, regs[1]);
	ev->args[2] = BPF_CORE_READ(regs, regs[2]);
	ev->args[3] = BPF_CORE_READ(regs, regs[3]);
	ev->args[4] = BPF_CORE_READ(regs, regs[4]);
	ev->args[5] = BPF_CORE_READ(regs, regs[5]);
	rc = (__s64)BPF_CORE_READ(regs, regs[0]);
#endif
	ev->result = rc;
	if (BPF_CORE_READ(task, seccomp.mode) == MW_SECCOMP_MODE_DEAD)
		ev->action = MW_SECCOMP_KILL;
	else if (rc < 0 && rc >= -MW_MAX_ERRNO)
		ev->action = MW_SECCOMP_ERRNO;
	else
		ev->action = MW_SECCOMP_OTHER;
	return mw_submit(ev, sizeof(*ev));
}
