#!/usr/bin/env bash
# The main job, for a newcomer: installs what is needed, builds modelwarden, starts the
# agent on its shipped default policy, then runs a real PyTorch model server twice —
# once on a clean checkpoint, once on a poisoned one whose pickle spawns a shell, reads
# /etc/shadow and phones home (to loopback). The alerts, with their process chains, are
# printed at the end; every event is in $DEMO_DIR/events.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (the agent loads BPF programs)" >&2; exit 1; }
bash scripts/install-deps.sh
bash scripts/build.sh

DEMO_DIR=${DEMO_DIR:-/tmp/modelwarden-demo}
BIN=build/agent/cli/modelwarden
rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
cp tests/workloads/model_server.py "$DEMO_DIR/"
/usr/bin/python3 tests/workloads/make_checkpoints.py "$DEMO_DIR" --marker "$DEMO_DIR/pwned" --secret /etc/shadow --c2-port 4444

echo "== modelwarden doctor"
"$BIN" doctor
echo "== policy check"
"$BIN" policy check policy/default/pytorch-server.yaml

echo "== starting the agent (default policy: policy/default/pytorch-server.yaml, monitor mode)"
"$BIN" run --policy policy/default/pytorch-server.yaml --events-file "$DEMO_DIR/events.jsonl" \
    --ready-file "$DEMO_DIR/agent.ready" 2>"$DEMO_DIR/agent.log" &
AGENT=$!
trap 'kill $AGENT 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do [[ -f "$DEMO_DIR/agent.ready" ]] && break; kill -0 $AGENT || { cat "$DEMO_DIR/agent.log"; exit 1; }; sleep 0.5; done
[[ -f "$DEMO_DIR/agent.ready" ]] || { echo "demo: agent did not become ready" >&2; cat "$DEMO_DIR/agent.log"; exit 1; }

# A "C2" listener on loopback so the payload's connect has somewhere to go.
/usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",4444)); s.listen(); s.settimeout(30)
try: s.accept()
except OSError: pass' &
C2=$!
sleep 0.5

echo "== model server on the clean checkpoint"
/usr/bin/python3 "$DEMO_DIR/model_server.py" --model "$DEMO_DIR/good.pt"
echo "== model server on the poisoned checkpoint (torch.load runs its pickle)"
/usr/bin/python3 "$DEMO_DIR/model_server.py" --model "$DEMO_DIR/poisoned.pt"
kill $C2 2>/dev/null || true

sleep 1
kill -TERM $AGENT; wait $AGENT || true
trap - EXIT
echo
echo "== what modelwarden saw"
/usr/bin/python3 scripts/demo_report.py "$DEMO_DIR/events.jsonl"
echo
echo "full ECS events: $DEMO_DIR/events.jsonl   agent log: $DEMO_DIR/agent.log"
