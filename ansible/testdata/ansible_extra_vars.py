# Reads a JSON list of ansible-playbook argument lists on stdin and writes,
# for each, the [key, value] pairs ansible itself loads from its extra-vars
# (null when ansible-playbook refuses the arguments). Values that are no
# strings are written as JSON. Used by the masking tests as the reference.
import json
import sys

from ansible.cli.playbook import PlaybookCLI
from ansible.parsing.splitter import parse_kv
from ansible.parsing.utils.yaml import from_yaml

out = []
for argv in json.load(sys.stdin):
    cli = PlaybookCLI(['ansible-playbook'] + argv + ['site.yml'])
    cli.init_parser()
    try:
        opts = cli.parser.parse_args(argv + ['site.yml'])
    except SystemExit:
        out.append(None)
        continue
    pairs = []

    def walk(d):
        if isinstance(d, dict):
            for k, v in d.items():
                pairs.append([str(k), v if isinstance(v, str) else json.dumps(v, default=str)])
                walk(v)
        elif isinstance(d, list):
            for x in d:
                walk(x)

    for ev in opts.extra_vars or []:
        if not ev or ev.startswith('@'):
            continue
        try:
            walk(from_yaml(ev) if ev[0] in '[{' else parse_kv(ev))
        except Exception:
            pass
    out.append(pairs)
json.dump(out, sys.stdout)
