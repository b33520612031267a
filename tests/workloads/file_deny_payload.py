#!/usr/bin/python3
"""A model-server stand-in for the fanotify file-deny e2e tests. Performs the actions named
on its command line in order and prints one JSON line per action:

  read:PATH    open(PATH, "rb") + read; reports ok and the bytes read, or errno
  write:PATH   open(PATH, "r+b") (O_RDWR, no create, no truncate) + write "PAYLOAD"; reports ok or errno
  tag:TEXT     no-op; puts TEXT on the command line for selectors
"""
import sys

# Importing payload_steps must not write a .pyc: that write would be the watched process's own
# event (denied and alerted where writes are denied).
sys.dont_write_bytecode = True
from payload_steps import read_all, report, run_steps  # noqa: E402


def read(name, arg):
    ok, err, data = read_all(arg)
    report(action=name, path=arg, ok=ok, errno=err, data=data)


def write(name, arg):
    try:
        with open(arg, "r+b") as f:
            f.write(b"PAYLOAD")
        report(action=name, path=arg, ok=True, errno=0)
    except OSError as e:
        report(action=name, path=arg, ok=False, errno=e.errno)


if __name__ == "__main__":
    sys.exit(run_steps(sys.argv[1:], {"read": read, "write": write}))
