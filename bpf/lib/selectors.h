/* SPDX-License-Identifier: GPL-2.0-only */
/* In-kernel allow decisions and selector matches against the policy maps. */
#ifndef MW_BPF_SELECTORS_H
#define MW_BPF_SELECTORS_H

#include "path.h"

/* True when a rendered path has a "." or ".." segment the LPM trie would misread. */
static __always_inline bool mw_has_dot_segment(const __u8 *p)
{
	int i;

	for (i = 0; i < MW_LPM_PATH_BYTES; i++) {
		if (p[i] == 0)
			return false;
		if (p[i] != '/' || p[i + 1] != '.')
			continue;
		if (p[i + 2] == '/' || p[i + 2] == 0)
			return true;
		if (p[i + 2] == '.' && (p[i + 3] == '/' || p[i + 3] == 0))
			return true;
	}
	return false;
}

/* Looks up (workload, path) in path_rules; NULL when no rule covers the path or the
 * path cannot be decided in the kernel (too long, cut, "." segments). */
static __always_inline struct mw_path_rule *mw_path_rule_for(__u32 workload_id, const __u8 *buf,
							     struct mw_path_span span, bool resolved)
{
	struct mw_key_buf *keys;
	__u32 len = span.len;

	if (span.truncated || len == 0 || len > MW_LPM_PATH_BYTES)
		return NULL;
	keys = mw_key_scratch();
	if (!keys)
		return NULL;
	mw_barrier_var(len);
	if (bpf_probe_read_kernel(keys->path.path, len & 0xff,
				  buf + (span.start & (2 * MW_PATH_MAX - 1))))
		return NULL;
	keys->path.path[(len - 1) & 0xff] = 0;
	if (!resolved && mw_has_dot_segment(keys->path.path))
		return NULL;
	keys->path.prefixlen = 32 + 8 * len;
	keys->path.workload_id = bpf_htonl(workload_id);
	return bpf_map_lookup_elem(&path_rules, &keys->path);
}

/* The in-kernel allow decision for an open: allowed opens send nothing. */
static __always_inline bool mw_open_allowed(__u32 workload_id, const __u8 *buf,
					    struct mw_path_span span, bool resolved, __u32 open_flags)
{
	struct mw_path_rule *rule;
	__u32 need = 0, acc = open_flags & MW_O_ACCMODE;

	if (mw_workload_flags(workload_id) & MW_WL_AUDIT_ALL)
		return false;
	rule = mw_path_rule_for(workload_id, buf, span, resolved);
	if (!rule || (rule->flags & (MW_PATH_SENSITIVE | MW_PATH_USERSPACE)))
		return false;
	if (acc == 0 || acc == MW_O_RDWR)
		need |= MW_PATH_ALLOW_READ;
	if (acc == MW_O_WRONLY || acc == MW_O_RDWR || (open_flags & (MW_O_CREAT | MW_O_TRUNC)))
		need |= MW_PATH_ALLOW_WRITE;
	return (rule->flags & need) == need;
}

/* Executable-prefix selector: does the resolved exe path start with a selector prefix? */
static __always_inline bool mw_exe_selected(const __u8 *buf, struct mw_path_span span)
{
	struct mw_key_buf *keys;
	__u32 len = span.len;

	if (len == 0)
		return false;
	if (len > MW_LPM_PATH_BYTES)
		len = MW_LPM_PATH_BYTES; /* a prefix of a long path can still match */
	keys = mw_key_scratch();
	if (!keys)
		return false;
	mw_barrier_var(len);
	if (bpf_probe_read_kernel(keys->selector.path, len & 0xff,
				  buf + (span.start & (2 * MW_PATH_MAX - 1))))
		return false;
	keys->selector.prefixlen = 8 * len;
	return bpf_map_lookup_elem(&selector_exe_prefixes, &keys->selector) != NULL;
}

#endif /* MW_BPF_SELECTORS_H */
