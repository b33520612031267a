#!/usr/bin/python3
"""What a payload hidden in model weights tries first: run a program, attach to a process,
sniff the wire. Under the learned profile each call must fail with EPERM.
Prints the errno of each attempt as JSON; exits 0 only if all three were EPERM."""
import ctypes
import errno
import json
import os
import socket
import sys

results = {}
try:
    os.execv("/bin/true", ["/bin/true"])
except OSError as e:
    results["execve"] = e.errno

libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(0, 0, None, None) == -1:  # PTRACE_TRACEME
    results["ptrace"] = ctypes.get_errno()
else:
    results["ptrace"] = 0

try:
    socket.socket(17, socket.SOCK_RAW, 0x0300)  # AF_PACKET, htons(ETH_P_ALL)
    results["socket"] = 0
except OSError as e:
    results["socket"] = e.errno

print(json.dumps(results), flush=True)
sys.exit(0 if len(results) == 3 and all(v == errno.EPERM for v in results.values()) else 1)
