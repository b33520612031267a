// SPDX-License-Identifier: GPL-2.0-only
/* Self-protection deny (BPF-LSM): a watched task in enforce mode may not signal, attach to,
 * rewrite or detach the agent; the operation fails with EPERM before it happens. Loaded only
 * where BPF-LSM works (refused under lockdown=integrity, needs "bpf" in lsm=). Scoped to
 * enforce-mode workloads like every other deny, so administrators keep control of the host.
 * The tracepoints in self_protect.bpf.c report these attempts; only a refused open is
 * reported here (its sys_exit sees a failure and stays silent). */
#include "self_protect.h"

char LICENSE[] SEC("license") = "GPL";

#define MW_EPERM 1
#define MW_PTRACE_MODE_ATTACH 0x02

/* The caller is a watched task in enforce mode (and not the agent). */
static __always_inline bool mw_self_deny_applies(void)
{
	struct mw_task_state *state;

	if (mw_is_agent())
		return false;
	state = mw_watched(bpf_get_current_pid_tgid() >> 32);
	return state && mw_enforcing(state->workload_id);
}

SEC("?lsm/task_kill")
int BPF_PROG(self_lsm_task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred, int ret)
{
	if (ret || sig == 0 || p->tgid != agent_tgid)
		return ret;
	return mw_self_deny_applies() ? -MW_EPERM : 0;
}

/* PTRACE_MODE_ATTACH covers ptrace attach, process_vm_* and /proc/<agent>/mem; plain
 * reads of /proc/<agent>/stat (ps) stay allowed. */
SEC("?lsm/ptrace_access_check")
int BPF_PROG(self_lsm_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret || !(mode & MW_PTRACE_MODE_ATTACH) || child->tgid != agent_tgid)
		return ret;
	return mw_self_deny_applies() ? -MW_EPERM : 0;
}

SEC("?lsm/file_open")
int BPF_PROG(self_lsm_file_open, struct file *file, int ret)
{
	struct mw_tamper t = { .kind = MW_TAMPER_FILE, .lsm_denied = 1, .result = -MW_EPERM };
	struct mw_inode_key key;
	struct mw_path_span span;
	__u64 a[4] = {};
	__u8 *buf;

	if (ret || !(file->f_mode & MW_FMODE_WRITE) || !mw_self_deny_applies())
		return ret;
	t.protected_kind = mw_file_protected(file, &key);
	if (!t.protected_kind)
		return 0;
	t.object_id = key.ino;
	t.dev = key.dev;
	buf = mw_path_scratch();
	if (buf) {
		span = mw_render_file(buf, file);
		mw_tamper_emit(0, a, &t, buf, span);
	}
	return -MW_EPERM;
}

/* A protected inode, or an entry of a protected directory. */
static __always_inline bool mw_entry_protected(struct inode *dir, struct dentry *dentry)
{
	struct mw_inode_key key;

	return mw_inode_kind(dir, &key) || (dentry && mw_inode_kind(dentry->d_inode, &key));
}

SEC("?lsm/inode_unlink")
int BPF_PROG(self_lsm_inode_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret || !mw_self_deny_applies() || !mw_entry_protected(dir, dentry))
		return ret;
	return -MW_EPERM;
}

SEC("?lsm/inode_rmdir")
int BPF_PROG(self_lsm_inode_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret || !mw_self_deny_applies() || !mw_entry_protected(dir, dentry))
		return ret;
	return -MW_EPERM;
}

SEC("?lsm/inode_rename")
int BPF_PROG(self_lsm_inode_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry, int ret)
{
	if (ret || !mw_self_deny_applies())
		return ret;
	if (mw_entry_protected(old_dir, old_dentry) || mw_entry_protected(new_dir, new_dentry))
		return -MW_EPERM;
	return 0;
}

/* chmod, chown, truncate (6.3+ signature: the idmap comes first). */
SEC("?lsm/inode_setattr")
int BPF_PROG(self_lsm_inode_setattr, struct mnt_idmap *idmap, struct dentry *dentry, struct iattr *attr, int ret)
{
	struct mw_inode_key key;

	if (ret || !mw_self_deny_applies() || !mw_inode_kind(dentry->d_inode, &key))
		return ret;
	return -MW_EPERM;
}

SEC("?lsm/bpf")
int BPF_PROG(self_lsm_bpf, int cmd, union bpf_attr *attr, unsigned int size, bool kernel, int ret)
{
	__u32 fds[2] = {};
	__u64 key;

	if (ret || kernel || (cmd != MW_BPF_LINK_DETACH && cmd != MW_BPF_LINK_UPDATE && cmd != MW_BPF_PROG_DETACH))
		return ret;
	if (!mw_self_deny_applies())
		return 0;
	/* attr is a kernel copy by now */
	if (bpf_probe_read_kernel(fds, sizeof(fds), attr))
		return 0;
	key = cmd == MW_BPF_PROG_DETACH ? mw_bpf_fd_id((__s32)fds[1], false) : mw_bpf_fd_id((__s32)fds[0], true);
	if (key && bpf_map_lookup_elem(&self_bpf_objects, &key))
		return -MW_EPERM;
	return 0;
}
