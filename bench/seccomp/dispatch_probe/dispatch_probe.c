// Dispatch cost of one empty sys_enter program (raw_tp or tp_btf, argv[1] = its object):
// getppid loop in CPU time, detached vs attached, 5 interleaved rounds. Not built by CMake.
#include <bpf/libbpf.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static double loop(long n) {
	struct timespec a, b;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (long i = 0; i < n; i++) syscall(SYS_getppid);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
}
int main(int argc, char **argv) {
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
	struct bpf_program *p = bpf_object__next_program(obj, NULL);
	for (int r = 0; r < 5; r++) {
		double off = loop(200000);
		struct bpf_link *l = bpf_program__attach(p);
		if (!l) { fprintf(stderr, "attach failed\n"); return 1; }
		double on = loop(200000);
		bpf_link__destroy(l);
		printf("round %d: none %.1f ns, empty program attached %.1f ns, %.3fx\n", r, off, on, on / off);
	}
	return 0;
}
