#!/usr/bin/python3
"""A model-server stand-in for the exec-deny e2e test. Performs the actions named on its
command line in order and prints one JSON line per action:

  spawn:PROG:ARG   subprocess.run([PROG, ARG]) (fork + execve in a child); reports ok, the
                   child's exit code, or the errno the execve failed with
  tag:TEXT         no-op; puts TEXT on the command line for selectors
"""
import subprocess
import sys

# Importing payload_steps must not write a .pyc: that write would be the watched process's own
# event (denied and alerted where writes are denied).
sys.dont_write_bytecode = True
from payload_steps import report, run_steps  # noqa: E402


def spawn(name, arg):
    prog, _, prog_arg = arg.partition(":")
    try:
        done = subprocess.run([prog, prog_arg], check=False)
        report(action=name, prog=prog, ok=True, errno=0, returncode=done.returncode)
    except OSError as e:
        report(action=name, prog=prog, ok=False, errno=e.errno, returncode=None)


if __name__ == "__main__":
    sys.exit(run_steps(sys.argv[1:], {"spawn": spawn}))
