/* SPDX-License-Identifier: GPL-2.0-only */
/* Self-protection helpers shared by the tracepoints (self_protect.bpf.c) and the BPF-LSM
 * deny programs (self_protect_lsm.bpf.c): who the agent is, what it owns, the record. */
#ifndef MW_BPF_SELF_PROTECT_H
#define MW_BPF_SELF_PROTECT_H

#include "enforce.h"

#define MW_FMODE_WRITE 0x2
#define MW_PIDFS_MAGIC 0x50494446
#define MW_PIDFD_THREAD 00000200 /* O_EXCL: the pidfd names a thread, not a group */
#define MW_CLONE_THREAD 0x00010000
#define MW_PTRACE_TRACEME 0
#define MW_BPF_PROG_DETACH 9
#define MW_BPF_LINK_UPDATE 29
#define MW_BPF_LINK_DETACH 34

struct mw_tamper {
	__u32 kind;
	__u32 target_pid;
	__s32 signal;
	__u32 dev;
	__u64 object_id;
	__u32 protected_kind;
	__u32 lsm_denied;       /* set by a BPF-LSM program that refuses the operation */
	__s64 result;
};

/* An agent thread id: the group leader (tid == tgid) or a thread the agent registered. */
static __always_inline bool mw_agent_tid(__u32 tid)
{
	return tid == agent_tgid || bpf_map_lookup_elem(&agent_threads, &tid) != NULL;
}

static __always_inline bool mw_is_agent(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == agent_tgid;
}

/* One record; a watched task in enforce mode is killed first (not for signal 0, which
 * only probes). The kill lands on return to user space: the syscall itself still runs. */
static __always_inline int mw_tamper_emit(long nr, const __u64 *args, const struct mw_tamper *t,
					  const __u8 *buf, struct mw_path_span span)
{
	struct mw_task_state *state = mw_watched(bpf_get_current_pid_tgid() >> 32);
	struct mw_self_protect_event *ev;
	__u32 workload_id = state ? state->workload_id : 0;
	__u32 flags = state ? (state->flags & MW_FLAG_PROVISIONAL) : MW_FLAG_HOST_WIDE;
	__u32 action = MW_ACTION_NONE, off = sizeof(*ev);
	__s32 action_result = 0;

	if (t->lsm_denied) {
		action = MW_ACTION_DENY;
	} else if (state && mw_enforcing(workload_id) && !(t->kind == MW_TAMPER_SIGNAL && t->signal == 0)) {
		if (self_lsm_deny) {
			action = MW_ACTION_DENY; /* self_protect_lsm refuses it later in this syscall */
		} else {
			action = MW_ACTION_KILL;
			action_result = mw_kill_current();
		}
	}
	ev = mw_record_scratch();
	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_SELF_PROTECT, 0, workload_id);
	ev->result = t->result;
	ev->args[0] = args[0];
	ev->args[1] = args[1];
	ev->args[2] = args[2];
	ev->args[3] = args[3];
	ev->syscall_nr = (__u32)nr;
	ev->kind = t->kind;
	ev->target_pid = t->target_pid;
	ev->signal = t->signal;
	ev->action = action;
	ev->action_result = action_result;
	ev->object_id = t->object_id;
	ev->dev = t->dev;
	ev->protected_kind = t->protected_kind;
	ev->text_len = 0;
	ev->_pad[0] = ev->_pad[1] = ev->_pad[2] = 0;
	if (buf)
		ev->text_len = mw_copy_span(ev, &off, buf, span, &flags);
	ev->hdr.flags = flags;
	return mw_submit(ev, off);
}

/* The object behind a link or program fd: both keep it in file->private_data. */
static __always_inline __u64 mw_bpf_fd_id(__s32 fd, bool link)
{
	struct file *file = mw_fd_file(bpf_get_current_task_btf(), fd);
	void *obj;

	if (!file)
		return 0;
	obj = BPF_CORE_READ(file, private_data);
	if (!obj)
		return 0;
	if (link)
		return (MW_SELF_BPF_LINK << 32) | BPF_CORE_READ((struct bpf_link *)obj, id);
	return (MW_SELF_BPF_PROG << 32) | BPF_CORE_READ((struct bpf_prog *)obj, aux, id);
}

static __always_inline __u32 mw_inode_kind(struct inode *inode, struct mw_inode_key *key)
{
	__u32 *kind;

	if (!inode)
		return 0;
	key->ino = BPF_CORE_READ(inode, i_ino);
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key->_pad = 0;
	kind = bpf_map_lookup_elem(&protected_inodes, key);
	return kind ? *kind : 0;
}

/* The protected kind of a file's inode, or of its directory (a file inside the config or
 * spool directory); 0 when neither is protected. */
static __always_inline __u32 mw_file_protected(struct file *file, struct mw_inode_key *key)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct dentry *dir = BPF_CORE_READ(file, f_path.dentry, d_parent);
	struct inode *dir_inode = BPF_CORE_READ(dir, d_inode);
	__u32 *kind;

	key->ino = BPF_CORE_READ(inode, i_ino);
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key->_pad = 0;
	kind = bpf_map_lookup_elem(&protected_inodes, key);
	if (kind)
		return *kind;
	if (!dir_inode)
		return 0;
	key->ino = BPF_CORE_READ(dir_inode, i_ino);
	key->dev = BPF_CORE_READ(dir_inode, i_sb, s_dev);
	kind = bpf_map_lookup_elem(&protected_inodes, key);
	if (!kind)
		return 0;
	key->ino = BPF_CORE_READ(inode, i_ino); /* report the file, not its directory */
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	return *kind;
}

#endif /* MW_BPF_SELF_PROTECT_H */
