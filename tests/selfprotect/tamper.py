#!/usr/bin/python3
"""Self-protection payload: goes for the agent the way malware would, one action per
argument, and prints one JSON line per action ({"action", "ok", "errno", ...}).

  signal:<pid>:<sig>   os.kill(pid, sig)
  write:<path>         open(path, "a") (a write-open; nothing is written)
  unlink:<path>        os.unlink(path)
  ptrace:<pid>         PTRACE_SEIZE (does not stop the target; detached when we exit)
  linger:<seconds>     stay alive a moment, so the agent can still read /proc/<pid> when it
                       resolves this (unwatched, so not in its process table) process
  tag:<text>           ignored: lets a policy select this process by command line
"""
import ctypes
import json
import os
import sys
import time

PTRACE_SEIZE = 0x4206
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def report(action, ok, err=0, **extra):
    print(json.dumps(dict(action=action, ok=ok, errno=err, **extra)), flush=True)


def main():
    for arg in sys.argv[1:]:
        kind, _, rest = arg.partition(":")
        try:
            if kind == "signal":
                pid, sig = rest.split(":")
                os.kill(int(pid), int(sig))
                report("signal", True)
            elif kind == "write":
                with open(rest, "a"):
                    pass
                report("write", True)
            elif kind == "unlink":
                os.unlink(rest)
                report("unlink", True)
            elif kind == "ptrace":
                r = libc.ptrace(PTRACE_SEIZE, int(rest), None, None)
                report("ptrace", r == 0, 0 if r == 0 else ctypes.get_errno())
            elif kind == "linger":
                time.sleep(float(rest))
            elif kind == "tag":
                continue
            else:
                report(kind, False, 22)
        except OSError as e:
            report(kind, False, e.errno)
    report("done", True)


if __name__ == "__main__":
    main()
