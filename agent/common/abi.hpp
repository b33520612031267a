// C++ view of the kernel<->user ABI (bpf/include/modelwarden/events.h): includes it once,
// and pins sizes and offsets so a change on either side fails the build instead of decoding garbage.
#pragma once

#include <cstddef>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // flexible array members (`char data[]`) are C, used on purpose
#include <modelwarden/events.h>
#pragma GCC diagnostic pop

static_assert(sizeof(mw_event_header) == 72);
static_assert(offsetof(mw_event_header, timestamp_ns) == 8);
static_assert(offsetof(mw_event_header, pid) == 32);
static_assert(offsetof(mw_event_header, comm) == 56);
static_assert(sizeof(mw_fork_event) == 88);
static_assert(offsetof(mw_exec_event, data) == 88);
static_assert(sizeof(mw_exit_event) == 80);
static_assert(offsetof(mw_exec_attempt_event, data) == 96);
static_assert(offsetof(mw_file_event, data) == 104);
static_assert(sizeof(mw_sockaddr) == 24);
static_assert(offsetof(mw_net_event, data) == 144);
static_assert(offsetof(mw_syscall_event, data) == 144);
static_assert(sizeof(mw_seccomp_event) == 136 && offsetof(mw_seccomp_event, syscall_nr) == 128);
static_assert(sizeof(mw_syscall_bitmap) == 64);
static_assert(offsetof(mw_enforcement_event, data) == 120);
static_assert(sizeof(mw_path_rule_key) == 4 + 4 + MW_LPM_PATH_BYTES);
static_assert(sizeof(mw_net_rule_key) == 28);
static_assert(sizeof(mw_workload_config) == 16);
static_assert(offsetof(mw_self_protect_event, data) == 160 && sizeof(mw_inode_key) == 16);
static_assert(MW_FLAG_MODEL_FILE == 32 && sizeof(mw_model_ext_key) == MW_MODEL_EXT_MAX);
