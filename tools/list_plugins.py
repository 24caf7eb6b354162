"""List every eov registry and its plugins.

    python tools/list_plugins.py          # a readable table
    python tools/list_plugins.py --json   # {"MODELS": [...], ...}
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.registry import PLUGIN_REGISTRIES  # noqa: E402


def collect(custom_imports=()):
    """Return ``{registry name: sorted plugin names}`` (eov's own registrations)."""
    import importlib
    for module in custom_imports:
        importlib.import_module(module)
    return {name: reg.own_names() for name, reg in PLUGIN_REGISTRIES.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description='List eov plugins by registry.')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.add_argument('--import', dest='imports', nargs='*', default=[],
                   help='third-party plugin modules to import first')
    args = p.parse_args(argv)
    plugins = collect(args.imports)
    if args.json:
        print(json.dumps(plugins, sort_keys=True))
        return
    width = max(len(n) for n in plugins)
    for name, items in plugins.items():
        print(f'{name:<{width}}  {", ".join(items) if items else "(none yet)"}')


if __name__ == '__main__':
    main()
