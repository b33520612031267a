"""What the e2e payloads share: the loop that performs the steps named on the command line
("name:arg", in order; unknown names such as tag:TEXT, which only puts TEXT on the command
line for selectors, do nothing) and one JSON line a step on stdout, so a test can assert each
step's exact outcome."""
import json


def report(**fields):
    print(json.dumps(fields), flush=True)


def read_all(path):
    """open(path, "rb") + read: (ok, errno, bytes read as latin-1)."""
    try:
        with open(path, "rb") as f:
            return True, 0, f.read().decode("latin-1")
    except OSError as e:
        return False, e.errno, ""


def run_steps(argv, steps):
    """Calls steps[name](name, arg) for each "name:arg" in argv, then reports done."""
    for action in argv:
        name, _, arg = action.partition(":")
        step = steps.get(name)
        if step is not None:
            step(name, arg)
    report(action="done")
    return 0
