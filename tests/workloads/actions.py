#!/usr/bin/python3
"""A stand-in model server for the e2e tests: imports torch like a real one, then performs
exactly the actions named on its command line, in order, each with one syscall of interest,
so tests can assert one exact event per action.

  exec-shell          fork, then the child execs /bin/sh -c 'exit 0' (one exec)
  read:PATH           open PATH for reading (errors ignored)
  write:PATH          open PATH for writing (O_CREAT|O_TRUNC)
  connect:PORT        TCP connect to 127.0.0.1:PORT (errors ignored)
  listen:PORT         bind + listen on 127.0.0.1:PORT
  fork-short          fork a child that exits 7 at once (no exec)
  sleep:SECONDS       sleep
Prints one JSON line per action with the pids involved.
"""
import json
import os
import socket
import sys
import time

import torch  # noqa: F401  (a model server has torch loaded; it maps many files at import)


def report(**fields):
    print(json.dumps(fields), flush=True)


def main(argv):
    for action in argv:
        name, _, arg = action.partition(":")
        if name == "exec-shell":
            pid = os.fork()
            if pid == 0:
                os.execv("/bin/sh", ["/bin/sh", "-c", "exit 0"])
            _, status = os.waitpid(pid, 0)
            report(action=name, pid=pid, status=status)
        elif name == "read":
            try:
                with open(arg, "rb") as f:
                    f.read(1)
                report(action=name, path=arg, ok=True)
            except OSError as e:
                report(action=name, path=arg, ok=False, errno=e.errno)
        elif name == "write":
            try:
                with open(arg, "wb") as f:
                    f.write(b"x")
                report(action=name, path=arg, ok=True)
            except OSError as e:
                report(action=name, path=arg, ok=False, errno=e.errno)
        elif name == "connect":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(("127.0.0.1", int(arg)))
                report(action=name, port=int(arg), ok=True)
            except OSError as e:
                report(action=name, port=int(arg), ok=False, errno=e.errno)
            finally:
                s.close()
        elif name == "listen":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", int(arg)))
                s.listen(4)
                report(action=name, port=int(arg), ok=True)
            except OSError as e:
                report(action=name, port=int(arg), ok=False, errno=e.errno)
            finally:
                s.close()
        elif name == "fork-short":
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            _, status = os.waitpid(pid, 0)
            report(action=name, pid=pid, status=status)
        elif name == "sleep":
            time.sleep(float(arg))
        else:
            report(action=name, error="unknown action")
            return 2
    report(action="done", pid=os.getpid(), ppid=os.getppid())
    return 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if not a.startswith("--tag")]))
