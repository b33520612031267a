// SPDX-License-Identifier: GPL-2.0-only
/* Security-relevant syscalls: credential changes, ptrace and process_vm_* of watched
 * tasks; module loads and bpf() from any process but the agent (host-wide). */
#include "path.h"

char LICENSE[] SEC("license") = "GPL";

/* Host-wide hooks: everyone but the agent; unwatched callers get MW_FLAG_HOST_WIDE. */
static __always_inline int mw_enter_host_wide(struct trace_event_raw_sys_enter *ctx, const int nargs)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_task_state *state;

	if (tgid == agent_tgid)
		return 0;
	state = mw_watched(tgid);
	return mw_save_args(ctx, nargs, state, state ? 0 : 1);
}

static __always_inline int mw_syscall_event(struct trace_event_raw_sys_exit *ctx, __u16 type,
					    int target_arg, int file_arg)
{
	struct mw_pending_args p;
	struct mw_syscall_event *ev;
	__u32 flags, off;
	int i;

	if (!mw_take_args(&p))
		return 0;
	ev = mw_record_scratch();
	if (!ev)
		return 0;
	flags = mw_task_event_flags(&p);
	mw_fill_header(&ev->hdr, type, 0, p.workload_id);
	ev->result = ctx->ret;
	for (i = 0; i < 6; i++)
		ev->args[i] = p.args[i];
	ev->syscall_nr = (__u32)ctx->id;
	ev->target_pid = target_arg >= 0 ? (__u32)p.args[target_arg & 7] : 0;
	ev->text_len = 0;
	ev->_pad[0] = ev->_pad[1] = ev->_pad[2] = 0;
	off = sizeof(*ev);
	if (file_arg >= 0) {
		__u8 *buf = mw_path_scratch();

		if (buf) {
			struct mw_path_span span = mw_render_file(
				buf, mw_fd_file(bpf_get_current_task_btf(), (__s32)p.args[file_arg & 7]));

			if (span.len)
				flags |= MW_FLAG_PATH_RESOLVED;
			ev->text_len = mw_copy_span(ev, &off, buf, span, &flags);
		}
	}
	ev->hdr.flags = flags;
	return mw_submit(ev, off);
}

#define MW_WATCHED_SYSCALL(name, nargs, type, target_arg)                             \
	MW_SYSCALL_ENTER(name, nargs)                                            \
	SEC("tracepoint/syscalls/sys_exit_" #name)                               \
	int handle_sys_exit_##name(struct trace_event_raw_sys_exit *ctx)         \
	{                                                                        \
		return mw_syscall_event(ctx, type, target_arg, -1);              \
	}

MW_WATCHED_SYSCALL(setuid, 1, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setgid, 1, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setreuid, 2, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setregid, 2, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setresuid, 3, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setresgid, 3, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setfsuid, 1, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(setfsgid, 1, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(capset, 2, MW_EVENT_PRIV_CHANGE, -1)
MW_WATCHED_SYSCALL(ptrace, 4, MW_EVENT_PTRACE, 1)
MW_WATCHED_SYSCALL(process_vm_readv, 6, MW_EVENT_PROCESS_VM, 0)
MW_WATCHED_SYSCALL(process_vm_writev, 6, MW_EVENT_PROCESS_VM, 0)

#define MW_HOST_WIDE_SYSCALL(name, nargs, type, file_arg)                             \
	SEC("tracepoint/syscalls/sys_enter_" #name)                              \
	int handle_sys_enter_##name(struct trace_event_raw_sys_enter *ctx)       \
	{                                                                        \
		return mw_enter_host_wide(ctx, nargs);                            \
	}                                                                        \
	SEC("tracepoint/syscalls/sys_exit_" #name)                               \
	int handle_sys_exit_##name(struct trace_event_raw_sys_exit *ctx)         \
	{                                                                        \
		return mw_syscall_event(ctx, type, -1, file_arg);                \
	}

MW_HOST_WIDE_SYSCALL(init_module, 3, MW_EVENT_MODULE_LOAD, -1)
MW_HOST_WIDE_SYSCALL(finit_module, 3, MW_EVENT_MODULE_LOAD, 0)
MW_HOST_WIDE_SYSCALL(bpf, 3, MW_EVENT_BPF_CALL, -1)
