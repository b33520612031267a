# Parses a Prometheus text exposition with the reference client's parser and prints it as JSON:
# {family: {"type": t, "help": h, "samples": [[name, {labels}, value], ...]}}. Fails loudly on bad input.
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    if fam.name in out:
        sys.exit("duplicate family " + fam.name)
    out[fam.name] = {
        "type": fam.type,
        "help": fam.documentation,
        "samples": [[s.name, s.labels, s.value if math.isfinite(s.value) else str(s.value)] for s in fam.samples],
    }
json.dump(out, sys.stdout, sort_keys=True)
