/* SPDX-License-Identifier: GPL-2.0-only */
/* Layered helpers shared by every sensor: read (task, fd, saved args) -> fill (record
 * header) -> submit (ring buffer from per-CPU scratch), each failure counted per CPU. */
#ifndef MW_BPF_HELPERS_H
#define MW_BPF_HELPERS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "maps.h"

/* uapi constants vmlinux.h does not carry. */
#define MW_AT_FDCWD -100
#define MW_AT_EMPTY_PATH 0x1000
#define MW_O_ACCMODE 00000003
#define MW_O_WRONLY 00000001
#define MW_O_RDWR 00000002
#define MW_O_CREAT 00000100
#define MW_O_TRUNC 00001000
#define MW_S_IFMT 00170000
#define MW_S_IFSOCK 0140000
#define MW_AF_UNIX 1
#define MW_AF_INET 2
#define MW_AF_INET6 10

/* Masks that prove bounds to the verifier: every variable offset or size is ANDed. */
#define MW_PATH_MASK (MW_PATH_MAX - 1)
#define MW_RECORD_MASK (MW_RECORD_MAX - 1)
#define MW_DATA_OFF_MASK (MW_RECORD_MAX / 2 - 1)

/* Hides a value's known range from clang so that the mask after it survives into the
 * bytecode (clang drops masks it can prove redundant; the verifier cannot). */
#define mw_barrier_var(x) asm volatile("" : "+r"(x))

/* ---- accounting ------------------------------------------------------------------ */
static __always_inline void mw_count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drop_counters, &reason);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

/* ---- read --------------------------------------------------------------------------- */
static __always_inline struct mw_task_state *mw_watched(__u32 tgid)
{
	return bpf_map_lookup_elem(&watched_tasks, &tgid);
}

static __always_inline void *mw_record_scratch(void)
{
	__u32 zero = 0;
	void *buf = bpf_map_lookup_elem(&record_scratch, &zero);

	if (!buf)
		mw_count_drop(MW_DROP_SCRATCH);
	return buf;
}

static __always_inline __u8 *mw_path_scratch(void)
{
	__u32 zero = 0;
	struct mw_path_buf *buf = bpf_map_lookup_elem(&path_scratch, &zero);

	if (!buf) {
		mw_count_drop(MW_DROP_SCRATCH);
		return NULL;
	}
	return buf->data;
}

static __always_inline struct mw_key_buf *mw_key_scratch(void)
{
	__u32 zero = 0;
	struct mw_key_buf *buf = bpf_map_lookup_elem(&key_scratch, &zero);

	if (!buf)
		mw_count_drop(MW_DROP_SCRATCH);
	return buf;
}

/* Saves a watched task's syscall arguments for the matching sys_exit. */
/* Reads only the syscall's own `nargs` arguments: attaching fails with EACCES when a
 * program reads past the tracepoint's record (perf_event_set_bpf_prog checks the
 * program's max ctx offset against the event's size). */
static __always_inline int mw_save_args(struct trace_event_raw_sys_enter *ctx, const int nargs,
					const struct mw_task_state *state, __u32 host_wide)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_pending_args p = {};

	if (nargs > 0)
		p.args[0] = ctx->args[0];
	if (nargs > 1)
		p.args[1] = ctx->args[1];
	if (nargs > 2)
		p.args[2] = ctx->args[2];
	if (nargs > 3)
		p.args[3] = ctx->args[3];
	if (nargs > 4)
		p.args[4] = ctx->args[4];
	if (nargs > 5)
		p.args[5] = ctx->args[5];
	if (state) {
		p.workload_id = state->workload_id;
		p.task_flags = state->flags;
	}
	p.host_wide = host_wide;
	if (bpf_map_update_elem(&pending_args, &id, &p, BPF_ANY))
		mw_count_drop(MW_DROP_PENDING_FULL);
	return 0;
}

/* sys_enter for events scoped to watched tasks: one hash lookup for everyone else. */
static __always_inline int mw_enter_watched(struct trace_event_raw_sys_enter *ctx, const int nargs)
{
	struct mw_task_state *state = mw_watched(bpf_get_current_pid_tgid() >> 32);

	if (!state)
		return 0;
	return mw_save_args(ctx, nargs, state, 0);
}

/* One sys_enter program per syscall: save the arguments of watched tasks. */
#define MW_SYSCALL_ENTER(name, nargs)                                           \
	SEC("tracepoint/syscalls/sys_enter_" #name)                             \
	int handle_sys_enter_##name(struct trace_event_raw_sys_enter *ctx)      \
	{                                                                       \
		return mw_enter_watched(ctx, nargs);                            \
	}

/* Copies and removes the saved arguments; false when the task was not tracked. */
static __always_inline bool mw_take_args(struct mw_pending_args *out)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_pending_args *p = bpf_map_lookup_elem(&pending_args, &id);

	if (!p)
		return false;
	__builtin_memcpy(out, p, sizeof(*out));
	bpf_map_delete_elem(&pending_args, &id);
	return true;
}

static __always_inline struct file *mw_fd_file(struct task_struct *task, __s64 fd)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt;
	struct file **fds;
	struct file *file = NULL;

	if (!files || fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

static __always_inline __u32 mw_workload_flags(__u32 workload_id)
{
	struct mw_workload_config *wl;

	if (workload_id == MW_WORKLOAD_PENDING)
		return MW_WL_AUDIT_ALL; /* not confirmed yet: user space sees everything */
	wl = bpf_map_lookup_elem(&workloads, &workload_id);
	return wl ? wl->flags : 0;
}

/* ---- fill ----------------------------------------------------------------------------- */
static __always_inline void mw_fill_header(struct mw_event_header *hdr, __u16 type, __u32 flags,
					   __u32 workload_id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();

	hdr->type = type;
	hdr->size = 0;
	hdr->flags = flags;
	hdr->timestamp_ns = bpf_ktime_get_boot_ns();
	hdr->start_time_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->pid = id >> 32;
	hdr->tid = (__u32)id;
	hdr->ppid = BPF_CORE_READ(task, real_parent, tgid);
	hdr->uid = (__u32)ugid;
	hdr->gid = ugid >> 32;
	hdr->workload_id = workload_id;
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
}

/* Header flags carried over from the task's mark and the pending args. */
static __always_inline __u32 mw_task_event_flags(const struct mw_pending_args *p)
{
	__u32 flags = p->task_flags & MW_FLAG_PROVISIONAL;

	if (p->host_wide)
		flags |= MW_FLAG_HOST_WIDE;
	return flags;
}

/* ---- submit ------------------------------------------------------------------------------ */
static __always_inline int mw_submit(void *record, __u32 size)
{
	struct mw_event_header *hdr = record;

	size &= MW_RECORD_MASK;
	if (size < sizeof(*hdr))
		return 0;
	hdr->size = size;
	if (bpf_ringbuf_output(&events, record, size, 0))
		mw_count_drop(MW_DROP_RINGBUF_FULL);
	return 0;
}

#endif /* MW_BPF_HELPERS_H */
