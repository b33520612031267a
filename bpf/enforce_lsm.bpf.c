// SPDX-License-Identifier: GPL-2.0-only
/* BPF-LSM deny: refuse an exec or an open before it happens (the tracepoints can only
 * kill after). Loaded only where the probe says BPF-LSM works: it is refused with EPERM
 * under lockdown=integrity, and needs "bpf" in the lsm= boot list. */
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

#define MW_EPERM 1

/* exec deny: the image is never loaded; execve returns -EPERM to the caller. */
SEC("lsm/bprm_check_security")
int BPF_PROG(enforce_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct mw_task_state *state;
	struct mw_workload_config *wl;
	struct mw_path_span exe;
	__u8 *buf;

	if (ret)
		return ret;
	state = mw_watched(bpf_get_current_pid_tgid() >> 32);
	if (!state)
		return 0;
	wl = mw_enforcing(state->workload_id);
	if (!wl || wl->exec_action != MW_ACTION_DENY)
		return 0;
	buf = mw_path_scratch();
	if (!buf)
		return 0;
	exe = mw_render_file(buf, bprm->file);
	if (mw_exec_verdict(state->workload_id, buf, exe) != MW_VERDICT_VIOLATION)
		return 0;
	mw_note_enforced(MW_ACTION_DENY, MW_EVENT_EXEC_ATTEMPT, NULL, 0);
	mw_emit_enforcement(state->workload_id, state->flags & MW_FLAG_PROVISIONAL, MW_ACTION_DENY,
			    MW_EVENT_EXEC_ATTEMPT, 0, buf, exe, NULL, 0, 0);
	return -MW_EPERM;
}

/* open deny: the open fails with EPERM, no fd, no data. */
SEC("lsm/file_open")
int BPF_PROG(enforce_file_open, struct file *file, int ret)
{
	struct mw_task_state *state;
	struct mw_workload_config *wl;
	struct mw_path_span span;
	__u32 open_flags;
	__u8 *buf;

	if (ret)
		return ret;
	state = mw_watched(bpf_get_current_pid_tgid() >> 32);
	if (!state)
		return 0;
	wl = mw_enforcing(state->workload_id);
	if (!wl)
		return 0;
	buf = mw_path_scratch();
	if (!buf)
		return 0;
	span = mw_render_file(buf, file);
	open_flags = file->f_flags;
	if (mw_open_action(wl, state->workload_id, buf, span, open_flags) != MW_ACTION_DENY)
		return 0;
	mw_note_enforced(MW_ACTION_DENY, MW_EVENT_FILE_OPEN, NULL, 0);
	mw_emit_enforcement(state->workload_id, state->flags & MW_FLAG_PROVISIONAL, MW_ACTION_DENY,
			    MW_EVENT_FILE_OPEN, 0, buf, span, NULL, 0, open_flags);
	return -MW_EPERM;
}
