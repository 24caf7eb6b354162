"""The import layers of eov hold (``.importlinter``, checked by import-linter).

Also: no eov module imports another eov module's private (``_name``) names.
"""
import ast
import configparser
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRACT = os.path.join(ROOT, '.importlinter')


def _layers() -> list[list[str]]:
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    text = parser['importlinter:contract:layers']['layers']
    return [[m.strip() for m in line.split('|')] for line in text.split('\n') if line.strip()]


def test_every_room_of_eov_has_a_layer():
    # a new subpackage or top-level module must be placed in the picture, not slip past it
    rooms = {f'eov.{name[:-3] if name.endswith(".py") else name}'
             for name in os.listdir(os.path.join(ROOT, 'eov'))
             if name != '__init__.py' and (
                 name.endswith('.py') or os.path.isfile(os.path.join(ROOT, 'eov', name,
                                                                     '__init__.py')))}
    placed = [m for layer in _layers() for m in layer]
    assert len(placed) == len(set(placed))
    assert rooms == set(placed), f'rooms without a layer: {sorted(rooms - set(placed))}'


def test_layer_order_matches_the_architecture():
    order = [m for layer in _layers() for m in layer]
    # bottom to top as the README's picture: registry < modalities < models < data < engine
    # and evaluation < apis
    rank = {m: i for i, layer in enumerate(reversed(_layers())) for m in layer}
    assert rank['eov.registry'] == 0 and rank['eov.utils'] == 0
    assert rank['eov.modalities'] < rank['eov.heads'] < rank['eov.models'] < \
        rank['eov.datasets'] < rank['eov.engine'] < rank['eov.apis']
    assert rank['eov.engine'] == rank['eov.evaluation'] and len(order) == len(rank)


def test_import_contract_is_kept():
    lint = os.path.join(os.path.dirname(sys.executable), 'lint-imports')
    if not os.path.exists(lint):
        pytest.fail('lint-imports not installed: pip install -e ".[test]" brings import-linter')
    proc = subprocess.run([lint, '--config', CONTRACT, '--no-cache'], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert 'Contracts: 2 kept, 0 broken.' in proc.stdout


def test_no_private_names_imported_across_eov_modules():
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, 'eov')):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding='utf-8') as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.level or (
                        node.module or '').split('.')[0] == 'eov'):
                    found += [f'{os.path.relpath(path, ROOT)}:{node.lineno} {a.name}'
                              for a in node.names if a.name.startswith('_')
                              and a.name != '__version__']
    assert not found
