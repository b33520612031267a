#!/usr/bin/python3
"""Prints the alerts in an ECS JSON Lines file the way an analyst reads them: rule, what
happened, and the process chain from the acting process up to init."""
import json
import sys


def describe(e):
    p = e.get("process", {})
    what = e.get("file", {}).get("path") or ""
    d = e.get("destination", {})
    if d.get("ip"):
        what = f"{d['ip']}:{d.get('port', '')}"
    if e["event"].get("action") == "exec":
        what = " ".join(p.get("args", [])) or p.get("executable", "")
    return what


def main(path):
    events = [json.loads(line) for line in open(path)]
    alerts = [e for e in events if e["event"]["kind"] == "alert"]
    print(f"{len(events)} events, {len(alerts)} alerts")
    for e in alerts:
        p = e.get("process", {})
        rule = e.get("rule", {})
        techniques = ",".join(e.get("threat", {}).get("technique", {}).get("id", []))
        enf = e.get("modelwarden", {}).get("enforcement", {})
        print(f"\n[{rule.get('id')}] {rule.get('name')} ({techniques})")
        print(f"  {e['event'].get('action')}: {describe(e)}  outcome={e['event'].get('outcome')}"
              + (f"  action={enf.get('action')}" if enf else ""))
        chain = [f"{p.get('executable')}[{p.get('pid')}]"]
        for a in e.get("modelwarden", {}).get("ancestors", []):
            chain.append(f"{a.get('executable')}[{a.get('pid')}]")
        print("  chain: " + " <- ".join(chain))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
