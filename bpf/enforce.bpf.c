// SPDX-License-Identifier: GPL-2.0-only
/* Network enforcement: cgroup sock_addr programs attached at the cgroup v2 root see every
 * process's connect/sendmsg/bind; they refuse (EPERM) what a watched workload in enforce
 * mode may not do. Unwatched processes pay one hash lookup and are never refused. */
#include "enforce.h"

char LICENSE[] SEC("license") = "GPL";

#define MW_ALLOW 1
#define MW_REFUSE 0 /* the syscall fails with EPERM */

static __always_inline int mw_sock_verdict(struct bpf_sock_addr *ctx, __u32 cause, bool v6)
{
	struct mw_task_state *state = mw_watched(bpf_get_current_pid_tgid() >> 32);
	struct mw_workload_config *wl;
	struct mw_sockaddr addr = {};
	__u32 socket_type = ctx->type;
	__u32 action;

	if (!state)
		return MW_ALLOW;
	wl = mw_enforcing(state->workload_id);
	if (!wl)
		return MW_ALLOW;
	addr.port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		addr.family = MW_AF_INET6;
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
		__builtin_memcpy(&addr.addr[0], &a0, 4);
		__builtin_memcpy(&addr.addr[4], &a1, 4);
		__builtin_memcpy(&addr.addr[8], &a2, 4);
		__builtin_memcpy(&addr.addr[12], &a3, 4);
	} else {
		__u32 a = ctx->user_ip4;

		addr.family = MW_AF_INET;
		__builtin_memcpy(addr.addr, &a, 4);
	}

	if (cause == MW_EVENT_NET_BIND) {
		struct mw_listen_rule_key key = {};

		if (addr.port == 0)
			return MW_ALLOW; /* an ephemeral port: a client socket, not a listener */
		key.workload_id = state->workload_id;
		key.port = addr.port;
		if (bpf_map_lookup_elem(&listen_rules, &key))
			return MW_ALLOW;
		action = wl->listen_action;
	} else if (wl->flags & MW_WL_ISOLATED) {
		action = MW_ACTION_ISOLATE; /* isolated: no further egress at all */
	} else {
		if (mw_egress_rule_allows(state->workload_id, &addr, socket_type))
			return MW_ALLOW;
		action = wl->egress_action;
		if (action == MW_ACTION_ISOLATE)
			mw_isolate(wl);
	}
	if (!mw_action_refuses(action))
		return MW_ALLOW;
	mw_note_enforced(action, cause, &addr, socket_type);
	return MW_REFUSE;
}

SEC("cgroup/connect4")
int enforce_connect4(struct bpf_sock_addr *ctx)
{
	return mw_sock_verdict(ctx, MW_EVENT_NET_CONNECT, false);
}

SEC("cgroup/connect6")
int enforce_connect6(struct bpf_sock_addr *ctx)
{
	return mw_sock_verdict(ctx, MW_EVENT_NET_CONNECT, true);
}

SEC("cgroup/sendmsg4")
int enforce_sendmsg4(struct bpf_sock_addr *ctx)
{
	return mw_sock_verdict(ctx, MW_EVENT_NET_SEND, false);
}

SEC("cgroup/sendmsg6")
int enforce_sendmsg6(struct bpf_sock_addr *ctx)
{
	return mw_sock_verdict(ctx, MW_EVENT_NET_SEND, true);
}

SEC("cgroup/bind4")
int enforce_bind4(struct bpf_sock_addr *ctx)
{
	return mw_sock_verdict(ctx, MW_EVENT_NET_BIND, false);
}

SEC("cgroup/bind6")
int enforce_bind6(struct bpf_sock_addr *ctx)
{
	return mw_sock_verdict(ctx, MW_EVENT_NET_BIND, true);
}
