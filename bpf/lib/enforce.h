/* SPDX-License-Identifier: GPL-2.0-only */
/* In-kernel enforcement decisions (exec allow list, file rules) and the enforcement
 * record every action produces. Used from the sensors' tracepoints, which own the task. */
#ifndef MW_BPF_ENFORCE_H
#define MW_BPF_ENFORCE_H

#include "selectors.h"

#define MW_SIGKILL 9

/* The workload's config when it is in enforce mode, else NULL. */
static __always_inline struct mw_workload_config *mw_enforcing(__u32 workload_id)
{
	struct mw_workload_config *wl;

	if (workload_id == 0 || workload_id == MW_WORKLOAD_PENDING)
		return NULL; /* a provisional selection is never enforced on: user space confirms first */
	wl = bpf_map_lookup_elem(&workloads, &workload_id);
	if (!wl || !(wl->flags & MW_WL_ENFORCE))
		return NULL;
	return wl;
}

/* Sets the isolate flag in the workload's config. A plain OR: every concurrent writer
 * sets the same bit, and clang-14's BPF backend has no 32-bit atomic OR before -mcpu=v3. */
static __always_inline void mw_isolate(struct mw_workload_config *wl)
{
	wl->flags |= MW_WL_ISOLATED;
}

enum mw_kernel_verdict {
	MW_VERDICT_ALLOWED = 0,
	MW_VERDICT_VIOLATION = 1,
	MW_VERDICT_UNDECIDED = 2, /* the trie cannot say (glob, long path): user space decides, no kernel action */
};

/* Exec allow list: the resolved executable against MW_PATH_ALLOW_EXEC entries. */
static __always_inline enum mw_kernel_verdict mw_exec_verdict(__u32 workload_id, const __u8 *buf,
							      struct mw_path_span span)
{
	struct mw_path_rule *rule;

	if (span.truncated || span.len == 0 || span.len > MW_LPM_PATH_BYTES)
		return MW_VERDICT_UNDECIDED;
	rule = mw_path_rule_for(workload_id, buf, span, true);
	if (!rule)
		return MW_VERDICT_VIOLATION;
	if (rule->flags & MW_PATH_ALLOW_EXEC)
		return MW_VERDICT_ALLOWED;
	if (rule->flags & MW_PATH_USERSPACE)
		return MW_VERDICT_UNDECIDED;
	return MW_VERDICT_VIOLATION;
}

/* The configured action for a resolved open, or MW_ACTION_NONE when it is allowed or
 * only user space can decide. Sensitive paths beat every allow list. */
static __always_inline __u32 mw_open_action(const struct mw_workload_config *wl, __u32 workload_id,
					    const __u8 *buf, struct mw_path_span span, __u32 open_flags)
{
	struct mw_path_rule *rule;
	__u32 acc = open_flags & MW_O_ACCMODE;
	bool read = acc == 0 || acc == MW_O_RDWR;
	bool write = acc == MW_O_WRONLY || acc == MW_O_RDWR || (open_flags & (MW_O_CREAT | MW_O_TRUNC));

	if (span.truncated || span.len == 0 || span.len > MW_LPM_PATH_BYTES)
		return MW_ACTION_NONE;
	rule = mw_path_rule_for(workload_id, buf, span, true);
	if (rule && (rule->flags & MW_PATH_SENSITIVE))
		return wl->sensitive_action;
	if (rule && (rule->flags & MW_PATH_USERSPACE))
		return MW_ACTION_NONE;
	if (write && !(rule && (rule->flags & MW_PATH_ALLOW_WRITE)))
		return wl->write_action;
	if (read && !(rule && (rule->flags & MW_PATH_ALLOW_READ)))
		return wl->read_action;
	return MW_ACTION_NONE;
}

/* SIGKILL to the current thread group: delivered before the task returns to user space,
 * so the syscall's result (an fd, a new image) is never used. 0 or -errno. */
static __always_inline __s32 mw_kill_current(void)
{
	return bpf_send_signal(MW_SIGKILL);
}

/* One MW_EVENT_ENFORCEMENT record: what was done, to what, and whether it worked. The
 * text is the path (exec, open) taken from the path scratch span; empty for network. */
static __always_inline int mw_emit_enforcement(__u32 workload_id, __u32 flags, __u32 action, __u32 cause,
					       __s32 result, const __u8 *buf, struct mw_path_span span,
					       const struct mw_sockaddr *addr, __u32 socket_type,
					       __u32 open_flags)
{
	struct mw_enforcement_event *ev = mw_record_scratch();
	__u32 off = sizeof(*ev);

	if (!ev)
		return 0;
	mw_fill_header(&ev->hdr, MW_EVENT_ENFORCEMENT, 0, workload_id);
	ev->action = action;
	ev->cause_type = cause;
	ev->result = result;
	ev->_pad = 0;
	if (addr)
		__builtin_memcpy(&ev->addr, addr, sizeof(ev->addr));
	else
		__builtin_memset(&ev->addr, 0, sizeof(ev->addr));
	ev->socket_type = socket_type;
	ev->open_flags = open_flags;
	ev->text_len = 0;
	if (buf)
		ev->text_len = mw_copy_span(ev, &off, buf, span, &flags);
	ev->hdr.flags = flags;
	return mw_submit(ev, off);
}

/* Takes what a cgroup sock_addr program denied for this syscall (see enforced_syscalls). */
static __always_inline bool mw_take_enforced(__u32 cause, struct mw_enforced_syscall *out)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_enforced_syscall *e = bpf_map_lookup_elem(&enforced_syscalls, &id);

	if (!e)
		return false;
	__builtin_memcpy(out, e, sizeof(*out));
	bpf_map_delete_elem(&enforced_syscalls, &id);
	return out->cause_type == cause;
}

/* Egress allow list for a deny decision: the same trie lookup as the sensors' filter,
 * without the audit-all override (auditing never loosens enforcement). */
static __always_inline bool mw_egress_rule_allows(__u32 workload_id, const struct mw_sockaddr *dst,
						  __u32 socket_type)
{
	struct mw_net_rule_key key = {};
	struct mw_net_rule *rule;
	__u32 proto;

	key.prefixlen = 32 + 16 + 16 + 128;
	key.workload_id = bpf_htonl(workload_id);
	if (dst->family == MW_AF_INET) {
		key.addr[10] = 0xff; /* v4-mapped: ::ffff:a.b.c.d */
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], dst->addr, 4);
	} else {
		__builtin_memcpy(key.addr, dst->addr, 16);
	}
	key.port = bpf_htons(dst->port);
	rule = bpf_map_lookup_elem(&net_rules, &key);
	if (!rule) {
		key.port = 0;
		rule = bpf_map_lookup_elem(&net_rules, &key);
	}
	if (!rule)
		return false;
	proto = socket_type == 1 ? MW_NET_ALLOW_TCP : socket_type == 2 ? MW_NET_ALLOW_UDP : 0;
	return (rule->flags & (MW_NET_ALLOW_TCP | MW_NET_ALLOW_UDP)) == 0 || (rule->flags & proto);
}

/* True for actions the kernel carries out by refusing the syscall. freeze is refused
 * here too (user space then freezes the cgroup); alert never is. */
static __always_inline bool mw_action_refuses(__u32 action)
{
	return action == MW_ACTION_DENY || action == MW_ACTION_KILL || action == MW_ACTION_ISOLATE ||
	       action == MW_ACTION_FREEZE;
}

/* Leaves a note for the same syscall's sys_exit tracepoint (see enforced_syscalls). */
static __always_inline void mw_note_enforced(__u32 action, __u32 cause, const struct mw_sockaddr *addr,
					     __u32 socket_type)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_enforced_syscall e = {};

	e.action = action;
	e.cause_type = cause;
	if (addr)
		__builtin_memcpy(&e.addr, addr, sizeof(e.addr));
	e.socket_type = socket_type;
	if (bpf_map_update_elem(&enforced_syscalls, &id, &e, BPF_ANY))
		mw_count_drop(MW_DROP_PENDING_FULL);
}

#endif /* MW_BPF_ENFORCE_H */
