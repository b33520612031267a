// Dispatch-cost probe for bench/seccomp: a raw_tp/sys_enter program that does nothing.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("raw_tp/sys_enter")
int empty_sys_enter(void *ctx) { return 0; }
