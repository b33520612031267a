#!/usr/bin/python3
"""A small but real PyTorch model server: loads a checkpoint with torch.load, runs
inference, and answers HTTP requests on loopback. Used by the demo and the e2e tests.

Usage: model_server.py --model PATH [--port N] [--requests N] [--tag TEXT]
  --requests 0 loads, runs one inference and exits without serving.
  --tag is ignored; tests put a unique token on the command line so a policy
  selector (cmdline_contains) picks exactly this process.
"""
import argparse
import http.server
import json
import sys

import torch


class TinyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.linear(x)


def load_model(path):
    # torch 1.13's default torch.load unpickles arbitrary objects: exactly the hole a
    # poisoned checkpoint uses. modelwarden is what stands between this call and the payload.
    checkpoint = torch.load(path)
    model = TinyModel()
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    model = load_model(args.model)
    with torch.no_grad():
        out = model(torch.ones(1, 4))
    print(json.dumps({"status": "loaded", "output": out.tolist()}), flush=True)

    if args.requests <= 0:
        return 0

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            values = json.loads(self.rfile.read(length) or b"[1,1,1,1]")
            with torch.no_grad():
                y = model(torch.tensor([values], dtype=torch.float32)).tolist()
            body = json.dumps({"prediction": y}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    print(json.dumps({"status": "serving", "port": server.server_address[1]}), flush=True)
    for _ in range(args.requests):
        server.handle_request()
    return 0


if __name__ == "__main__":
    sys.exit(main())
