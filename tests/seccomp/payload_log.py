#!/usr/bin/python3
"""A payload under a `log` profile: its syscalls run (SECCOMP_RET_LOG only logs). A child
execve's /bin/true, then the payload calls ptrace(PTRACE_TRACEME): both succeed, and each
must still be exactly one alert. ptrace comes last: a tracee stops at its next signal or exec.
Prints {"child": pid, "true_status": wait status, "ptrace": errno or 0}; exits 0 if both ran."""
import ctypes
import json
import os
import sys

child = os.fork()
if child == 0:
    try:
        os.execv("/bin/true", ["/bin/true"])
    finally:
        os._exit(127)
_, status = os.waitpid(child, 0)
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
print(json.dumps({"child": child, "true_status": status, "ptrace": 0 if rc == 0 else ctypes.get_errno()}), flush=True)
sys.exit(0 if status == 0 and rc == 0 else 1)
