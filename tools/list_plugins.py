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


def import_plugins(modules):
    """Import each ``--import`` module; one ``error:`` line (exit 2) for one that fails.

    A module that is not installed is named as such; a module that exists but fails
    while importing (its own missing dependency, a syntax error...) is named with
    the exception it raised.
    """
    import importlib
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and (module == err.name or module.startswith(err.name + '.')):
                why = (f'no module named {err.name!r} (install the plugin package, or add '
                       'its directory to PYTHONPATH)')
            else:
                why = f'importing it failed: {type(err).__name__}: {err}'
            print(f'error: --import {module}: {why}', file=sys.stderr)
            raise SystemExit(2) from None
        except Exception as err:   # the plugin's own code: any error is the plugin's
            print(f'error: --import {module}: importing it failed: '
                  f'{type(err).__name__}: {err}', file=sys.stderr)
            raise SystemExit(2) from None
    return {name: reg.own_names() for name, reg in PLUGIN_REGISTRIES.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description='List eov plugins by registry.')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.add_argument('--import', dest='imports', nargs='*', default=[],
                   help='third-party plugin modules to import first')
    args = p.parse_args(argv)
    import_plugins(args.imports)
    plugins = collect()
    if args.json:
        print(json.dumps(plugins, sort_keys=True))
        return
    width = max(len(n) for n in plugins)
    for name, items in plugins.items():
        print(f'{name:<{width}}  {", ".join(items) if items else "(none yet)"}')


if __name__ == '__main__':
    main()
