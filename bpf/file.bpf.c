// SPDX-License-Identifier: GPL-2.0-only
/* File activity of watched tasks: open family (with the in-kernel allow decision and its
 * cache), unlink, rename, chmod, chown and memfd_create (fileless execution staging). */
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

#define MW_S_IFREG 0100000

/* ---- allow-decision cache ------------------------------------------------------------ */
/* Rendering the new fd's path and the LPM lookup are most of a watched open's cost, so an
 * allowed verdict is cached. The verdict is a function of the rendered path, and the path
 * of an open file is a function of (dentry, vfsmount) and of the dentry and mount trees
 * above them. Those trees change through rename, link and the mount syscalls (mount, umount,
 * move_mount, pivot_root): their sys_exit tracepoints, for every task, bump MW_GEN_VFS, which
 * is in the key, so every older entry misses. (fexit on __d_move would also see renames made
 * inside the kernel, but this kernel refuses fentry/fexit; see the limits below.)
 * The key also holds the mount's never-reused mnt_id_unique (bind mounts and other mount
 * namespaces are other mounts, hence other paths; a freed struct mount reused at the same
 * address is another id) and the inode's identity (pointer, ino, i_generation: a freed
 * dentry or inode whose memory is reused for another file does not match). One inode with
 * several names is left: only a regular file with i_nlink == 1 is cached or looked up, and
 * link bumps MW_GEN_VFS, so an entry never outlives the moment its inode got a second name.
 * Dentries with d_revalidate (NFS, FUSE, CIFS, 9p, /proc, sysfs) are never cached: their
 * names can change on the server or with a pid, without a syscall here.
 * Limits: renames done by the kernel for someone else on a local file system (nfsd or
 * ksmbd exporting it) make no syscall here; hosts that export model or policy paths that
 * way should run with the cache off (SensorConfig::open_cache).
 * Only allowed verdicts are cached; sensitive, user-space, write-not-allowed, audit_all and
 * model-file opens never are, and the access the open needed (read/write) is in the key. */
static __always_inline __u32 mw_open_need(__u32 open_flags)
{
	__u32 need = 0, acc = open_flags & MW_O_ACCMODE;

	if (acc == 0 || acc == MW_O_RDWR)
		need |= MW_PATH_ALLOW_READ;
	if (acc == MW_O_WRONLY || acc == MW_O_RDWR || (open_flags & (MW_O_CREAT | MW_O_TRUNC)))
		need |= MW_PATH_ALLOW_WRITE;
	return need;
}

static __always_inline __u64 *mw_open_cache_slot(__u32 slot)
{
	return bpf_map_lookup_elem(&open_cache_state, &slot);
}

/* Fills the cache key of an open file; false when this open must not use the cache. The
 * generations are read before the path is rendered: a change racing with the render bumps
 * them after, so what this open inserts can never be found again. */
static __always_inline bool mw_open_cache_key(struct mw_open_cache_key *k, struct file *file, __u32 workload_id,
					      __u32 open_flags)
{
	__u64 *on = mw_open_cache_slot(MW_OPEN_CACHE_ON);
	__u64 *policy_gen = mw_open_cache_slot(MW_GEN_POLICY);
	__u64 *vfs_gen = mw_open_cache_slot(MW_GEN_VFS);
	struct inode *inode;
	struct mount *mnt;
	struct path fp;
	__u32 nlink, dflags;
	__u16 mode;

	if (!on || !*on || !policy_gen || !vfs_gen || !file)
		return false;
	if (bpf_probe_read_kernel(&fp, sizeof(fp), &file->f_path))
		return false;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return false;
	mode = BPF_CORE_READ(inode, i_mode);
	nlink = BPF_CORE_READ(inode, __i_nlink);
	if ((mode & MW_S_IFMT) != MW_S_IFREG || nlink != 1)
		return false;
	dflags = BPF_CORE_READ(fp.dentry, d_flags);
	if (dflags & (DCACHE_OP_REVALIDATE | DCACHE_OP_WEAK_REVALIDATE))
		return false;
	mnt = container_of(fp.mnt, struct mount, mnt);
	k->policy_gen = *policy_gen;
	k->vfs_gen = *vfs_gen;
	k->dentry = (__u64)fp.dentry;
	k->mnt = BPF_CORE_READ(mnt, mnt_id_unique);
	k->inode = (__u64)inode;
	k->ino = BPF_CORE_READ(inode, i_ino);
	k->i_generation = BPF_CORE_READ(inode, i_generation);
	k->workload_id = workload_id;
	k->need = mw_open_need(open_flags);
	k->_pad = 0;
	return true;
}

/* ---- model files ------------------------------------------------------------------------ */
/* True when the rendered path (NUL at buf[MW_PATH_MAX - 1]) names a file with a model
 * extension (case-insensitive: a loader does not care) that is not under one of the
 * workload's models.dirs. A path too long for the trie cannot be cleared here: reported. */
static __always_inline bool mw_model_file_outside_dirs(__u32 workload_id, const __u8 *buf, struct mw_path_span span)
{
	struct mw_model_ext_key ext = {};
	struct mw_key_buf *keys;
	__u32 dot = 0, len = span.len, i;

	for (i = 2; i <= MW_MODEL_EXT_MAX; i++) {
		__u32 pos = MW_PATH_MAX - i;
		__u8 c;

		if (pos < span.start)
			break;
		c = buf[pos & MW_PATH_MASK];
		if (c == '/')
			break;
		if (c == '.') {
			dot = pos;
			break;
		}
	}
	if (!dot)
		return false;
	for (i = 0; i < MW_MODEL_EXT_MAX - 1; i++) {
		__u32 pos = dot + 1 + i;
		__u8 c;

		if (pos >= MW_PATH_MAX - 1)
			break;
		c = buf[pos & MW_PATH_MASK];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		ext.ext[i] = c;
	}
	if (!bpf_map_lookup_elem(&model_extensions, &ext))
		return false;
	if (span.truncated || len == 0 || len > MW_LPM_PATH_BYTES)
		return true;
	keys = mw_key_scratch();
	if (!keys)
		return true;
	mw_barrier_var(len);
	if (bpf_probe_read_kernel(keys->path.path, len & 0xff, buf + (span.start & (2 * MW_PATH_MAX - 1))))
		return true;
	keys->path.path[(len - 1) & 0xff] = 0;
	keys->path.prefixlen = 32 + 8 * len;
	keys->path.workload_id = bpf_htonl(workload_id);
	return bpf_map_lookup_elem(&model_dirs, &keys->path) == NULL;
}

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
	struct mw_open_cache_key cache_key;
	struct mw_path_span span = {};
	struct mw_file_event *ev;
	struct file *file = NULL;
	bool resolved = false, cacheable = false;
	__u32 flags = mw_task_event_flags(p), off;
	__u8 *buf;

	if (op->type == MW_EVENT_FILE_OPEN && ret >= 0) {
		/* what was really opened, after symlinks and "..": the new fd's file */
		file = mw_fd_file(task, ret);
		cacheable = mw_open_cache_key(&cache_key, file, p->workload_id, op->open_flags);
		if (cacheable && bpf_map_lookup_elem(&open_verdicts, &cache_key))
			return 0; /* allowed before, and nothing the verdict depends on changed since */
	}
	buf = mw_path_scratch();
	if (!buf)
		return 0;
	if (op->type == MW_EVENT_FILE_OPEN && ret >= 0) {
		span = mw_render_file(buf, file);
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
	/* a model artefact outside models.dirs always reaches user space (MW-MODEL-003) */
	if (op->type == MW_EVENT_FILE_OPEN && resolved && ret >= 0 &&
	    mw_model_file_outside_dirs(p->workload_id, buf, span))
		flags |= MW_FLAG_MODEL_FILE;
	if (op->type == MW_EVENT_FILE_OPEN && !(flags & (MW_FLAG_ENFORCED | MW_FLAG_MODEL_FILE)) &&
	    mw_open_allowed(p->workload_id, buf, span, resolved, op->open_flags)) {
		if (cacheable && resolved) {
			__u32 allowed = 1;

			bpf_map_update_elem(&open_verdicts, &cache_key, &allowed, BPF_ANY);
		}
		return 0;
	}

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
/* sys_exit only: the arguments are read back from the task's saved user registers, which
 * open does not change, so a task that is not watched pays one tracepoint and one hash
 * lookup per open (a sys_enter program would add a second of each, for every task). */
static __always_inline bool mw_open_task(struct mw_pending_args *p, struct pt_regs **regs)
{
	struct mw_task_state *state = mw_watched(bpf_get_current_pid_tgid() >> 32);

	if (!state)
		return false;
	__builtin_memset(p, 0, sizeof(*p));
	p->workload_id = state->workload_id;
	p->task_flags = state->flags;
	*regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return *regs != NULL;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int handle_sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN };
	struct pt_regs *regs;

	if (!mw_open_task(&p, &regs))
		return 0;
	op.dirfd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	op.upath = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	op.open_flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
	op.mode = PT_REGS_PARM4_CORE_SYSCALL(regs);
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int handle_sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN };
	struct open_how how = {};
	struct pt_regs *regs;

	if (!mw_open_task(&p, &regs))
		return 0;
	bpf_probe_read_user(&how, sizeof(how), (const void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
	op.dirfd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	op.upath = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	op.open_flags = how.flags;
	op.mode = how.mode;
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_open")
int handle_sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN, .dirfd = MW_AT_FDCWD };
	struct pt_regs *regs;

	if (!mw_open_task(&p, &regs))
		return 0;
	op.upath = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
	op.open_flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
	op.mode = PT_REGS_PARM3_CORE_SYSCALL(regs);
	return mw_file_event(&p, ctx->ret, &op);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int handle_sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct mw_file_op op = { .type = MW_EVENT_FILE_OPEN, .dirfd = MW_AT_FDCWD };
	struct pt_regs *regs;

	if (!mw_open_task(&p, &regs))
		return 0;
	op.upath = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
	op.open_flags = MW_O_CREAT | MW_O_WRONLY | MW_O_TRUNC; /* creat() by definition */
	op.mode = PT_REGS_PARM2_CORE_SYSCALL(regs);
	return mw_file_event(&p, ctx->ret, &op);
}

/* ---- cache invalidation (see mw_open_cache_key): after the change, for every task ---- */
static __always_inline int mw_vfs_changed(long ret)
{
	__u64 *gen = mw_open_cache_slot(MW_GEN_VFS);

	if (gen && ret == 0)
		__sync_fetch_and_add(gen, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_link")
int handle_sys_exit_link(struct trace_event_raw_sys_exit *ctx)
{
	return mw_vfs_changed(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int handle_sys_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
	return mw_vfs_changed(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_mount")
int handle_sys_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	return mw_vfs_changed(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_umount")
int handle_sys_exit_umount(struct trace_event_raw_sys_exit *ctx)
{
	return mw_vfs_changed(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_move_mount")
int handle_sys_exit_move_mount(struct trace_event_raw_sys_exit *ctx)
{
	return mw_vfs_changed(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_pivot_root")
int handle_sys_exit_pivot_root(struct trace_event_raw_sys_exit *ctx)
{
	return mw_vfs_changed(ctx->ret);
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

	mw_vfs_changed(ctx->ret); /* every task's rename: the open-verdict cache */
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

	mw_vfs_changed(ctx->ret); /* every task's rename: the open-verdict cache */
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
