#!/usr/bin/python3
"""A model-server stand-in for the enforcement e2e tests (no torch import: it must start
fast so tests can time the agent's death). Performs the actions named on its command line
in order and prints one JSON line per action:

  system-touch:PATH   os.system("touch PATH") (fork + exec /bin/sh); reports the wait status
  connect:PORT        TCP connect to 127.0.0.1:PORT; reports ok or errno
  read:PATH           open + read PATH; reports ok and the bytes read, or errno
  wait-file:PATH      wait until PATH exists (the test's go signal)
  tag:TEXT            no-op; puts TEXT on the command line for selectors
"""
import os
import socket
import sys
import time

# Importing payload_steps must not write a .pyc: that write would be the watched process's own
# event (denied and alerted where writes are denied).
sys.dont_write_bytecode = True
from payload_steps import read_all, report, run_steps  # noqa: E402


def system_touch(name, arg):
    status = os.system("touch " + arg)
    report(action=name, status=status, exists=os.path.exists(arg))


def connect(name, arg):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", int(arg)))
        report(action=name, ok=True, errno=0)
    except OSError as e:
        report(action=name, ok=False, errno=e.errno)
    finally:
        s.close()


def read(name, arg):
    ok, err, data = read_all(arg)
    report(action=name, ok=ok, errno=err, data=data)


def wait_file(name, arg):
    while not os.path.exists(arg):
        time.sleep(0.02)
    report(action=name)


if __name__ == "__main__":
    sys.exit(run_steps(sys.argv[1:], {"system-touch": system_touch, "connect": connect, "read": read,
                                      "wait-file": wait_file}))
