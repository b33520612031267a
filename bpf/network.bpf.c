// SPDX-License-Identifier: GPL-2.0-only
/* Network activity of watched tasks: connect, bind, listen, accept and UDP sends with
 * an explicit destination; allowed egress/listen is decided here and sends nothing. */
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

#define MW_SOCK_STREAM 1
#define MW_SOCK_DGRAM 2
#define MW_UNIX_PATH_MAX 108

static __always_inline struct socket *mw_fd_socket(struct task_struct *task, __s64 fd)
{
	struct file *file = mw_fd_file(task, fd);
	umode_t mode;

	if (!file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & MW_S_IFMT) != MW_S_IFSOCK)
		return NULL; /* private_data is only a struct socket for socket files */
	return BPF_CORE_READ(file, private_data);
}

/* Local and peer addresses as the kernel's sock has them. */
static __always_inline void mw_sock_addrs(struct sock *sk, struct mw_sockaddr *local,
					  struct mw_sockaddr *remote)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	local->family = remote->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	remote->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == MW_AF_INET) {
		BPF_CORE_READ_INTO(local->addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(remote->addr, sk, __sk_common.skc_daddr);
	} else if (family == MW_AF_INET6) {
		BPF_CORE_READ_INTO(local->addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(remote->addr, sk, __sk_common.skc_v6_daddr);
	}
}

/* Reads a user sockaddr; a unix path goes to `path` (abstract names get '@').
 * Returns the stored path length including the NUL (0 = none). */
static __always_inline __u16 mw_user_sockaddr(struct mw_sockaddr *out, const void *uaddr,
					      __u32 addrlen, char *path)
{
	__u16 family = 0;

	if (!uaddr || addrlen < sizeof(family) || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return 0;
	out->family = family;
	if (family == MW_AF_INET) {
		struct sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		out->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(out->addr, &sin.sin_addr, 4);
	} else if (family == MW_AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		out->port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(out->addr, &sin6.sin6_addr, 16);
	} else if (family == MW_AF_UNIX && addrlen > sizeof(family)) {
		const char *sun_path = (const char *)uaddr + sizeof(family);
		__u32 n = addrlen - sizeof(family);
		char first = 0;

		if (n > MW_UNIX_PATH_MAX)
			n = MW_UNIX_PATH_MAX;
		bpf_probe_read_user(&first, 1, sun_path);
		if (first == 0) {
			/* abstract: no NUL terminator, the length is addrlen's */
			mw_barrier_var(n);
			n &= 0x7f;
			if (n < 1)
				return 0;
			path[0] = '@';
			bpf_probe_read_user(path + 1, (n - 1) & 0x7f, sun_path + 1);
			path[n & 0x7f] = 0;
			return n + 1;
		} else {
			long r = bpf_probe_read_user_str(path, MW_UNIX_PATH_MAX + 1, sun_path);

			return r > 0 ? r : 0;
		}
	}
	return 0;
}

static __always_inline bool mw_egress_allowed(__u32 workload_id, const struct mw_sockaddr *dst,
					      __u32 socket_type)
{
	struct mw_net_rule_key key = {};
	struct mw_net_rule *rule;
	__u32 proto;

	if (dst->family != MW_AF_INET && dst->family != MW_AF_INET6)
		return false;
	if (mw_workload_flags(workload_id) & MW_WL_AUDIT_ALL)
		return false;
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
		key.port = 0; /* a rule for any port */
		rule = bpf_map_lookup_elem(&net_rules, &key);
	}
	if (!rule)
		return false;
	proto = socket_type == MW_SOCK_STREAM ? MW_NET_ALLOW_TCP :
		socket_type == MW_SOCK_DGRAM  ? MW_NET_ALLOW_UDP : 0;
	/* no protocol bits: any protocol */
	return (rule->flags & (MW_NET_ALLOW_TCP | MW_NET_ALLOW_UDP)) == 0 || (rule->flags & proto);
}

static __always_inline bool mw_listen_allowed(__u32 workload_id, __u16 port, __u16 family)
{
	struct mw_listen_rule_key key = {};

	if (family != MW_AF_INET && family != MW_AF_INET6)
		return false;
	if (mw_workload_flags(workload_id) & MW_WL_AUDIT_ALL)
		return false;
	key.workload_id = workload_id;
	key.port = port;
	return bpf_map_lookup_elem(&listen_rules, &key) != NULL;
}

enum mw_user_addr_role {
	MW_ADDR_NONE = 0,
	MW_ADDR_REMOTE = 1,  /* connect, sendto, sendmsg */
	MW_ADDR_LOCAL = 2,   /* bind */
};

static __always_inline int mw_net_event(const struct mw_pending_args *p, __s64 ret, __u16 type,
					__s64 fd, const void *uaddr, __u32 addrlen,
					enum mw_user_addr_role role, __u32 backlog)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_net_event *ev = mw_record_scratch();
	struct mw_enforced_syscall enforced = {};
	struct socket *sock;
	bool allowed = false;
	__u32 off, flags = mw_task_event_flags(p);

	if (!ev)
		return 0;
	__builtin_memset(&ev->local, 0, sizeof(ev->local));
	__builtin_memset(&ev->remote, 0, sizeof(ev->remote));
	ev->socket_type = 0;
	ev->unix_path_len = 0;
	ev->_pad[0] = ev->_pad[1] = ev->_pad[2] = 0;

	/* accept's interesting socket is the new one */
	sock = mw_fd_socket(task, type == MW_EVENT_NET_ACCEPT ? ret : fd);
	if (sock) {
		struct sock *sk = BPF_CORE_READ(sock, sk);

		ev->socket_type = BPF_CORE_READ(sock, type);
		if (sk)
			mw_sock_addrs(sk, &ev->local, &ev->remote);
	}
	off = sizeof(*ev);
	if (role == MW_ADDR_REMOTE) {
		__builtin_memset(&ev->remote, 0, sizeof(ev->remote));
		ev->unix_path_len = mw_user_sockaddr(&ev->remote, uaddr, addrlen, ev->data);
	} else if (role == MW_ADDR_LOCAL) {
		__builtin_memset(&ev->local, 0, sizeof(ev->local));
		ev->unix_path_len = mw_user_sockaddr(&ev->local, uaddr, addrlen, ev->data);
	}
	off += ev->unix_path_len & 0xff;

	if (mw_take_enforced(type, &enforced)) {
		/* a cgroup program denied this syscall: report it, and finish a kill here
		 * where bpf_send_signal exists (SIGKILL lands before the syscall returns) */
		flags |= MW_FLAG_ENFORCED;
	} else {
		if (type == MW_EVENT_NET_CONNECT || type == MW_EVENT_NET_SEND)
			allowed = mw_egress_allowed(p->workload_id, &ev->remote, ev->socket_type);
		else
			allowed = mw_listen_allowed(p->workload_id, ev->local.port, ev->local.family);
		if (allowed)
			return 0;
	}

	mw_fill_header(&ev->hdr, type, flags, p->workload_id);
	ev->result = ret;
	ev->backlog = backlog;
	mw_submit(ev, off);
	if (flags & MW_FLAG_ENFORCED) {
		__s32 result = 0;

		if (enforced.action == MW_ACTION_KILL)
			result = mw_kill_current();
		mw_emit_enforcement(p->workload_id, mw_task_event_flags(p), enforced.action, type, result,
				    NULL, (struct mw_path_span){}, &enforced.addr, enforced.socket_type, 0);
	}
	return 0;
}

MW_SYSCALL_ENTER(connect, 3)
MW_SYSCALL_ENTER(bind, 3)
MW_SYSCALL_ENTER(listen, 2)
MW_SYSCALL_ENTER(accept, 3)
MW_SYSCALL_ENTER(accept4, 4)
MW_SYSCALL_ENTER(sendto, 6)
MW_SYSCALL_ENTER(sendmsg, 3)

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_sys_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p))
		return 0;
	return mw_net_event(&p, ctx->ret, MW_EVENT_NET_CONNECT, (__s32)p.args[0],
			    (const void *)p.args[1], p.args[2], MW_ADDR_REMOTE, 0);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int handle_sys_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p))
		return 0;
	return mw_net_event(&p, ctx->ret, MW_EVENT_NET_BIND, (__s32)p.args[0],
			    (const void *)p.args[1], p.args[2], MW_ADDR_LOCAL, 0);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int handle_sys_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p))
		return 0;
	return mw_net_event(&p, ctx->ret, MW_EVENT_NET_LISTEN, (__s32)p.args[0], NULL, 0,
			    MW_ADDR_NONE, p.args[1]);
}

/* Accepting on an allowed listen port is a server's ordinary work: filtered like listen. */
static __always_inline int mw_accept(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p))
		return 0;
	return mw_net_event(&p, ctx->ret, MW_EVENT_NET_ACCEPT, (__s32)p.args[0], NULL, 0,
			    MW_ADDR_NONE, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return mw_accept(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return mw_accept(ctx);
}

/* Only sends that name a destination: a connected socket was reported at connect. */
SEC("tracepoint/syscalls/sys_exit_sendto")
int handle_sys_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;

	if (!mw_take_args(&p) || !p.args[4])
		return 0;
	return mw_net_event(&p, ctx->ret, MW_EVENT_NET_SEND, (__s32)p.args[0],
			    (const void *)p.args[4], p.args[5], MW_ADDR_REMOTE, 0);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int handle_sys_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	struct mw_pending_args p;
	struct user_msghdr msg = {};

	if (!mw_take_args(&p))
		return 0;
	if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)p.args[1]) || !msg.msg_name)
		return 0;
	return mw_net_event(&p, ctx->ret, MW_EVENT_NET_SEND, (__s32)p.args[0], msg.msg_name,
			    msg.msg_namelen, MW_ADDR_REMOTE, 0);
}
