#!/usr/bin/python3
"""A payload under a `log` profile: its syscalls run (SECCOMP_RET_LOG only logs). It execve's
itself again, and the new image calls ptrace(PTRACE_TRACEME): both succeed, and each must
still be exactly one alert. ptrace comes last: a tracee stops at its next exec or signal.
Prints {"ptrace": errno or 0} from the second image; exits 0 if ptrace succeeded."""
import ctypes
import json
import os
import sys

if "--traced" not in sys.argv:
    os.execv(sys.executable, [sys.executable, __file__, "--traced", *sys.argv[1:]])
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
print(json.dumps({"ptrace": 0 if rc == 0 else ctypes.get_errno()}), flush=True)
sys.exit(0 if rc == 0 else 1)
