/* SPDX-License-Identifier: GPL-2.0-only */
/* Renders a struct path to an absolute path with a bounded dentry walk that crosses
 * mount points via struct mount, and joins relative user paths to cwd or a dirfd. */
#ifndef MW_BPF_PATH_H
#define MW_BPF_PATH_H

#include "helpers.h"

/* Deeper paths are cut (MW_FLAG_TRUNCATED); 64 keeps the walk within verifier limits. */
#define MW_PATH_COMPONENTS 64

/* Result of a render: the string is buf[start .. start+len), len counts the NUL. */
struct mw_path_span {
	__u32 start;
	__u32 len;
	bool truncated;
};

/* Walk state for bpf_loop: the verifier checks the step once instead of unrolling 64
 * iterations of branches (which exceeded its 1M-instruction budget). */
struct mw_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct mount *mnt_parent;
	__u32 pos;
	__u32 done;
	__u32 truncated;
};

static long mw_walk_step(__u32 index, void *data)
{
	struct mw_walk *w = data;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	__u8 *buf = mw_path_scratch();
	struct qstr name;
	__u32 n, pos;

	if (!buf)
		return 1;
	if (dentry == mnt_root || dentry == parent) {
		if (dentry == mnt_root && mnt != w->mnt_parent) {
			/* mount root: continue at the mount point in the parent mount */
			struct mount *up = w->mnt_parent;

			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = up;
			w->mnt_parent = BPF_CORE_READ(up, mnt_parent);
			w->vfsmnt = &up->mnt;
			return 0;
		}
		/* global root, or a detached dentry (unlinked, lazily unmounted) */
		w->done = 1;
		return 1;
	}
	if (bpf_probe_read_kernel(&name, sizeof(name), &dentry->d_name))
		return 1;
	n = name.len;
	pos = w->pos;
	if (n + 1 > pos) {
		w->truncated = 1;
		return 1;
	}
	pos -= n;
	mw_barrier_var(pos);
	mw_barrier_var(n);
	if (bpf_probe_read_kernel(buf + (pos & MW_PATH_MASK), n & MW_PATH_MASK, name.name))
		return 1;
	pos -= 1;
	buf[pos & MW_PATH_MASK] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/* Writes `path` backwards into the path scratch so that it ends at
 * buf[MW_PATH_MAX - 1] (the NUL). `buf` must be mw_path_scratch(). */
static __always_inline struct mw_path_span mw_render_path(__u8 *buf, const struct path *path)
{
	struct mw_path_span span = { .start = MW_PATH_MAX - 1, .len = 1, .truncated = false };
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct mw_walk w = {};
	__u32 pos;

	w.dentry = BPF_CORE_READ(path, dentry);
	w.vfsmnt = vfsmnt;
	w.mnt = mnt;
	w.mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
	w.pos = MW_PATH_MAX - 1;
	buf[MW_PATH_MAX - 1] = 0;
	bpf_loop(MW_PATH_COMPONENTS, mw_walk_step, &w, 0);
	if (!w.done)
		span.truncated = true;
	pos = w.pos;
	if (pos >= MW_PATH_MAX - 1) {
		/* the root itself */
		pos = MW_PATH_MAX - 2;
		buf[MW_PATH_MAX - 2] = '/';
	}
	span.start = pos;
	span.len = MW_PATH_MAX - pos;
	return span;
}

static __always_inline struct mw_path_span mw_render_file(__u8 *buf, struct file *file)
{
	struct path p;

	if (!file || bpf_probe_read_kernel(&p, sizeof(p), &file->f_path)) {
		struct mw_path_span empty = { .start = 0, .len = 0, .truncated = false };
		return empty;
	}
	return mw_render_path(buf, &p);
}

/* A user path as the syscall will see it: absolute as is, relative joined to the
 * dirfd's path or the cwd (AT_FDCWD). The join is one contiguous string because the
 * rendered directory ends at buf[MW_PATH_MAX - 1] and the user string starts after. */
static __always_inline struct mw_path_span mw_user_path(__u8 *buf, struct task_struct *task,
							__s64 dirfd, const char *upath)
{
	struct mw_path_span span = { .start = MW_PATH_MAX, .len = 0, .truncated = false };
	char first = 0;
	long n;

	if (!upath || bpf_probe_read_user(&first, 1, upath))
		return span;
	if (first != '/') {
		if (dirfd == MW_AT_FDCWD) {
			struct path pwd = BPF_CORE_READ(task, fs, pwd);
			span = mw_render_path(buf, &pwd);
		} else {
			span = mw_render_file(buf, mw_fd_file(task, dirfd));
		}
		if (span.len == 0)
			span.start = MW_PATH_MAX;
		if (span.len == 2) {
			/* dir is "/": drop its slash, the join adds one */
			span.start = MW_PATH_MAX - 1;
			span.len = 1;
		}
		/* replace the directory's NUL with the separator */
		buf[MW_PATH_MAX - 1] = '/';
		span.start &= MW_PATH_MASK;
		span.len = MW_PATH_MAX - span.start;
	}
	n = bpf_probe_read_user_str(&buf[MW_PATH_MAX], MW_PATH_MAX, upath);
	if (n <= 0) {
		span.len = 0;
		return span;
	}
	if (n == MW_PATH_MAX)
		span.truncated = true;
	if (first == '/') {
		span.start = MW_PATH_MAX;
		span.len = n;
	} else {
		span.len += n; /* directory + '/' already counted, n includes the NUL */
	}
	return span;
}

/* Copies a span into the record's data at *off, bounded to MW_PATH_MAX bytes, and
 * returns the stored length (NUL included). A longer join keeps its first bytes. */
static __always_inline __u16 mw_copy_span(void *record, __u32 *off, const __u8 *buf,
					  struct mw_path_span span, __u32 *flags)
{
	__u32 len = span.len, at, start;
	__u8 *dst;

	if (len == 0)
		return 0;
	if (len > MW_PATH_MAX) {
		len = MW_PATH_MAX;
		*flags |= MW_FLAG_TRUNCATED;
	}
	if (span.truncated)
		*flags |= MW_FLAG_TRUNCATED;
	at = *off;
	start = span.start;
	mw_barrier_var(len);
	mw_barrier_var(at);
	mw_barrier_var(start);
	dst = (__u8 *)record + (at & MW_DATA_OFF_MASK);
	/* the source needs no verifier bound (probe read); the destination does */
	if (bpf_probe_read_kernel(dst, len & (2 * MW_PATH_MAX - 1), buf + (start & (2 * MW_PATH_MAX - 1))))
		return 0;
	/* a cut string has no NUL of its own */
	dst[(len - 1) & MW_PATH_MASK] = 0;
	*off += len;
	return len;
}

#endif /* MW_BPF_PATH_H */
