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
import json
import os
import socket
import sys
import time


def report(**fields):
    print(json.dumps(fields), flush=True)


def main(argv):
    for action in argv:
        name, _, arg = action.partition(":")
        if name == "system-touch":
            status = os.system("touch " + arg)
            report(action=name, status=status, exists=os.path.exists(arg))
        elif name == "connect":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(("127.0.0.1", int(arg)))
                report(action=name, ok=True, errno=0)
            except OSError as e:
                report(action=name, ok=False, errno=e.errno)
            finally:
                s.close()
        elif name == "read":
            try:
                with open(arg, "rb") as f:
                    data = f.read()
                report(action=name, ok=True, errno=0, data=data.decode("latin-1"))
            except OSError as e:
                report(action=name, ok=False, errno=e.errno, data="")
        elif name == "wait-file":
            while not os.path.exists(arg):
                time.sleep(0.02)
            report(action=name)
        elif name == "tag":
            pass
    report(action="done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
