#!/usr/bin/python3
"""A model-server stand-in for the fanotify file-deny e2e tests. Performs the actions named
on its command line in order and prints one JSON line per action:

  read:PATH    open(PATH, "rb") + read; reports ok and the bytes read, or errno
  write:PATH   open(PATH, "r+b") (O_RDWR, no create, no truncate) + write "PAYLOAD"; reports ok or errno
  tag:TEXT     no-op; puts TEXT on the command line for selectors
"""
import json
import sys


def report(**fields):
    print(json.dumps(fields), flush=True)


def main(argv):
    for action in argv:
        name, _, arg = action.partition(":")
        if name == "read":
            try:
                with open(arg, "rb") as f:
                    data = f.read()
                report(action=name, path=arg, ok=True, errno=0, data=data.decode("latin-1"))
            except OSError as e:
                report(action=name, path=arg, ok=False, errno=e.errno, data="")
        elif name == "write":
            try:
                with open(arg, "r+b") as f:
                    f.write(b"PAYLOAD")
                report(action=name, path=arg, ok=True, errno=0)
            except OSError as e:
                report(action=name, path=arg, ok=False, errno=e.errno)
        elif name == "tag":
            pass
    report(action="done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
