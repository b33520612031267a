// SPDX-License-Identifier: GPL-2.0-only
/* File activity of watched tasks: open family (with the in-kernel allow decision),
 * unlink, rename, chmod, chown and memfd_create (fileless execution staging). */
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

/* What one syscall's record is built from. */
struct mw_file_op {
	__u16 type;
	bool path_from_fd;       /* fchmod/fchown: the path is the fd's file */
	bool target_raw;         /* memfd name: not a path, no cwd join */
	__s64 fd;
	__s64 dirfd;
	const char *upath;
	__s64 dirfd2;
	const char *upath2;      /* rename destination / memfd name */
	__u32 open_flags;
	__u32 mode;
	__u32 owner_uid;
	__u32 owner_gid;
};

static __always_inline int mw_file_event(const struct mw_pending_args *p, __s64 ret,
					 const struct mw_file_op *op)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_path_span span = {};
	struct mw_file_event *ev;
	bool resolved = false;
	__u32 flags = mw_task_event_flags(p), off;
	__u8 *buf = mw_path_scratch();

	if (!buf)
		return 0;
	if (op->type == MW_EVENT_FILE_OPEN && ret >= 0) {
		/* what was really opened, after symlinks and "..": the new fd's file */
		span = mw_render_file(buf, mw_fd_file(task, ret));
		resolved = span.len > 0;
	} else if (op->path_from_fd) {
		span = mw_render_file(buf, mw_fd_file(task, op->fd));
		resolved = span.len > 0;
	}
	if (!resolved && op->upath)
		span = mw_user_path(buf, task, op->dirfd, op->upath);
	if (op->type == MW_EVENT_FILE_OPEN && ret < 0) {
		struct mw_enforced_syscall enforced;

		if (mw_take_enforced(MW_EVENT_FILE_OPEN, &enforced))
			flags |= MW_FLAG_ENFORCED; /* BPF-LSM refused it; its record carries the alert */
	}
	if (op->type == MW_EVENT_FILE_OPEN && resolved) {
		/* kill: the open succeeded, but SIGKILL lands before the task returns to user
		 * space, so the new fd is never read. deny needs a hook before the open
		 * (BPF-LSM file_open or fanotify): a tracepoint cannot change the result. */
		struct mw_workload_config *wl = mw_enforcing(p->workload_id);

		if (wl && mw_open_action(wl, p->workload_id, buf, span, op->open_flags) == MW_ACTION_KILL) {
			__s32 result = mw_kill_current();

			mw_emit_enforcement(p->workload_id, mw_task_event_flags(p), MW_ACTION_KILL,
					    MW_EVENT_FILE_OPEN, result, buf, span, NULL, 0, op->open_flags);
			flags |= MW_FLAG_ENFORCED;
		}
	}
	if (op->type == MW_EVENT_FILE_OPEN && !(flags & MW_FLAG_ENFORCED) &&
	    mw_open_allowed(p->workload_id, buf, span, resolved, op->open_flags))
		return 0;

	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, op->type, 0, p->workload_id);
	ev->result = ret;
	ev->open_flags = op->open_flags;
	ev->mode = op->mode;
	ev->owner_uid = op->owner_uid;
	ev->owner_gid = op->owner_gid;
	ev->_pad = 0;
	ev->target_len = 0;
	off = sizeof(*ev);
	if (resolved)
		flags |= MW_FLAG_PATH_RESOLVED;
	ev->path_len = mw_copy_span(ev, &off, buf, span, &flags);

	if (op->upath2 && op->target_raw) {
		long n = bpf_probe_read_user_str((__u8 *)ev + (off & MW_DATA_OFF_MASK), MW_PATH_MAX,
						 op->upath2);
		if (n > 0) {
			ev->target_len = n;
			off += n;
		}
	} else if (op->upath2) {
		span = mw_user_path(buf, task, op->dirfd2, op->upath2);
		ev->target_len = mw_copy_span(ev, &off, buf, span, &flags);
	}
	ev->hdr.flags = flags;
	return mw_submit(ev, off);
}

/* ---- open family ---------------------------------------------------------------- */
MW_SYSCALL_ENTER(openat, 4)
MW_SYSCALL_ENTER(openat2, 4)
MW_SYSCALL_ENTER(open, 3)
MW_SYSCALL_ENTER(creat, 2)

SEC("tracepoint/syscalls/sys_exit_openat")
int handle_sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN };

	if (!mw_take_args(&p))
		return 0;
	op.dirfd = (__s32)p.args[0];
	op.upath = (const char *)p.args[1];
	op.open_flags = p.args[2];
	op.mode = p.args[3];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int handle_sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN };
	struct open_how how = {};

	if (!mw_take_args(&p))
		return 0;
	bpf_probe_read_user(&how, sizeof(how), (const void *)p.args[2]);
	op.dirfd = (__s32)p.args[0];
	op.upath = (const char *)p.args[1];
	op.open_flags = how.flags;
	op.mode = how.mode;
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_open")
int handle_sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN, .dirfd = MW_AT_FDCWD };

	if (!mw_take_args(&p))
		return 0;
	op.upath = (const char *)p.args[0];
	op.open_flags = p.args[1];
	op.mode = p.args[2];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int handle_sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN, .dirfd = MW_AT_FDCWD };

	if (!mw_take_args(&p))
		return 0;
	op.upath = (const char *)p.args[0];
	op.open_flags = MW_O_CREAT | MW_O_WRONLY | MW_O_TRUNC; /* creat() by definition */
	op.mode = p.args[1];
	return mw_file_event(&p, ctx->ret, &op);
}

/* ---- unlink ------------------------------------------------------------------------- */
MW_SYSCALL_ENTER(unlink, 1)
MW_SYSCALL_ENTER(unlinkat, 3)

SEC("tracepoint/syscalls/sys_exit_unlink")
int handle_sys_exit_unlink(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_UNLINK, .dirfd = MW_AT_FDCWD };

	if (!mw_take_args(&p))
		return 0;
	op.upath = (const char *)p.args[0];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int handle_sys_exit_unlinkat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_UNLINK };

	if (!mw_take_args(&p))
		return 0;
	op.dirfd = (__s32)p.args[0];
	op.upath = (const char *)p.args[1];
	op.open_flags = p.args[2]; /* AT_REMOVEDIR */
	return mw_file_event(&p, ctx->ret, &op);
}

/* ---- rename ------------------------------------------------------------------------- */
MW_SYSCALL_ENTER(rename, 2)
MW_SYSCALL_ENTER(renameat, 4)
MW_SYSCALL_ENTER(renameat2, 5)

SEC("tracepoint/syscalls/sys_exit_rename")
int handle_sys_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_RENAME, .dirfd = MW_AT_FDCWD,
				 .dirfd2 = MW_AT_FDCWD };

	if (!mw_take_args(&p))
		return 0;
	op.upath = (const char *)p.args[0];
	op.upath2 = (const char *)p.args[1];
	return mw_file_event(&p, ctx->ret, &op);
}

static __always_inline int mw_renameat(struct trace_event_raw_sys_exit *ctx, bool with_flags)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_RENAME };

	if (!mw_take_args(&p))
		return 0;
	op.dirfd = (__s32)p.args[0];
	op.upath = (const char *)p.args[1];
	op.dirfd2 = (__s32)p.args[2];
	op.upath2 = (const char *)p.args[3];
	if (with_flags)
		op.open_flags = p.args[4]; /* RENAME_* */
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int handle_sys_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	return mw_renameat(ctx, false);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int handle_sys_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	return mw_renameat(ctx, true);
}

/* ---- chmod -------------------------------------------------------------------------- */
MW_SYSCALL_ENTER(chmod, 2)
MW_SYSCALL_ENTER(fchmodat, 3)
MW_SYSCALL_ENTER(fchmod, 2)

SEC("tracepoint/syscalls/sys_exit_chmod")
int handle_sys_exit_chmod(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_CHMOD, .dirfd = MW_AT_FDCWD };

	if (!mw_take_args(&p))
		return 0;
	op.upath = (const char *)p.args[0];
	op.mode = p.args[1];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_fchmodat")
int handle_sys_exit_fchmodat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_CHMOD };

	if (!mw_take_args(&p))
		return 0;
	op.dirfd = (__s32)p.args[0];
	op.upath = (const char *)p.args[1];
	op.mode = p.args[2];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_fchmod")
int handle_sys_exit_fchmod(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_CHMOD, .path_from_fd = true };

	if (!mw_take_args(&p))
		return 0;
	op.fd = (__s32)p.args[0];
	op.mode = p.args[1];
	return mw_file_event(&p, ctx->ret, &op);
}

/* ---- chown -------------------------------------------------------------------------- */
MW_SYSCALL_ENTER(chown, 3)
MW_SYSCALL_ENTER(lchown, 3)
MW_SYSCALL_ENTER(fchownat, 5)
MW_SYSCALL_ENTER(fchown, 3)

static __always_inline int mw_chown_path(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_CHOWN, .dirfd = MW_AT_FDCWD };

	if (!mw_take_args(&p))
		return 0;
	op.upath = (const char *)p.args[0];
	op.owner_uid = p.args[1];
	op.owner_gid = p.args[2];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_chown")
int handle_sys_exit_chown(struct trace_event_raw_sys_exit *ctx)
{
	return mw_chown_path(ctx);
}

SEC("tracepoint/syscalls/sys_exit_lchown")
int handle_sys_exit_lchown(struct trace_event_raw_sys_exit *ctx)
{
	return mw_chown_path(ctx);
}

SEC("tracepoint/syscalls/sys_exit_fchownat")
int handle_sys_exit_fchownat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_CHOWN };

	if (!mw_take_args(&p))
		return 0;
	op.dirfd = (__s32)p.args[0];
	op.upath = (const char *)p.args[1];
	op.owner_uid = p.args[2];
	op.owner_gid = p.args[3];
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_fchown")
int handle_sys_exit_fchown(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_CHOWN, .path_from_fd = true };

	if (!mw_take_args(&p))
		return 0;
	op.fd = (__s32)p.args[0];
	op.owner_uid = p.args[1];
	op.owner_gid = p.args[2];
	return mw_file_event(&p, ctx->ret, &op);
}

/* ---- memfd_create: an anonymous file that can be written and exec'd (fileless) ---- */
MW_SYSCALL_ENTER(memfd_create, 2)

SEC("tracepoint/syscalls/sys_exit_memfd_create")
int handle_sys_exit_memfd_create(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_MEMFD_CREATE, .target_raw = true };

	if (!mw_take_args(&p))
		return 0;
	op.upath2 = (const char *)p.args[0];
	op.open_flags = p.args[1]; /* MFD_* */
	return mw_file_event(&p, ctx->ret, &op);
}
