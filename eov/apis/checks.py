"""Cheap checks of what a user names on the command line, before a model is loaded.

Each returns (or raises as :class:`~eov.apis.inferencer.InferenceError`) one line that
names the file or argument and says what is expected: a directory is "a directory", a
FIFO is "not a regular file", a dangling link or a symlink loop says so, and only a path
that is not there is "not found".
"""
from __future__ import annotations

import json
import os

from eov.utils.io import path_problem


class ToolExit(SystemExit):
    """Exit status 2 whose ``str()`` is the message (already printed by :func:`fail`)."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def fail(message: str):
    """Print ``error: MESSAGE`` (one line) on stderr and exit with status 2."""
    import sys
    line = f'error: {message}'
    print(line, file=sys.stderr)
    raise ToolExit(line)


def add_model_arguments(p) -> None:
    """The arguments tools/infer.py and tools/serve.py share: ``model [checkpoint]`` (a config
    and its checkpoint, or an export directory) and how the model is loaded and run."""
    p.add_argument('model', help='config file, or a directory written by tools/export_hf.py')
    p.add_argument('checkpoint', nargs='?', help='checkpoint (.pth) for a config file')
    p.add_argument('--device', default='cpu', help='torch device: cpu, cuda, cuda:1 ...')
    p.add_argument('--batch-size', type=int, default=8, help='requests generated together')
    p.add_argument('--max-new-tokens', type=int,
                   help="generation budget per answer (default: the model's)")
    p.add_argument('--model-from-config', action='store_true',
                   help="build the model from CONFIG instead of the checkpoint's saved config")


def fail_if(problem: str | None) -> None:
    """:func:`fail` with ``problem`` when there is one (a ``*_problem`` check's answer)."""
    if problem:
        fail(problem)


def check_positive(args, *names: str) -> None:
    """:func:`fail` on the first option of ``names`` (``args`` attributes) given but not > 0."""
    for name in names:
        value = getattr(args, name)
        if value is not None and not value > 0:
            fail(f'--{name.replace("_", "-")} must be > 0, got {value}')


def plural(n: int, word: str, words: str | None = None) -> str:
    """``'1 tile'``, ``'2 tiles'`` (``words``: an irregular plural)."""
    return f'{n} {word if n == 1 else (words or word + "s")}'


class InferenceError(ValueError):
    """A request the inferencer cannot answer (names what is wrong)."""


def check_file(path, what: str, expected: str) -> None:
    """Raise :class:`InferenceError` with :func:`path_problem`'s line, if any."""
    problem = path_problem(path, what, expected)
    if problem:
        raise InferenceError(problem)



def is_export_dir(path) -> bool:
    """True for a directory holding an eov ``config.json`` written by ``tools/export_hf.py``
    (a cheap check for tools: no torch import)."""
    try:
        with open(os.path.join(os.fspath(path), 'config.json'), encoding='utf-8') as f:
            return json.load(f).get('model_type') == 'earth_one_vision'
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def model_problem(model, checkpoint, tool: str) -> str | None:
    """Why ``CONFIG CHECKPOINT`` / ``EXPORT_DIR`` cannot give a trained model (or ``None``).

    A config without a checkpoint is refused: its model would answer with random weights.

    Args:
        model: A config file or a directory written by ``tools/export_hf.py``.
        checkpoint: The checkpoint given with a config (``None``: none).
        tool: The tool's name for the usage hint, e.g. ``'tools/infer.py'``.
    """
    if os.path.isdir(model):
        if not is_export_dir(model):
            return (f'{model} is a directory but not an exported model (no eov config.json): '
                    f'give CONFIG CHECKPOINT or a directory written by tools/export_hf.py')
        if checkpoint is not None:
            return f'{model} is an exported model directory: it holds its weights, give no ' \
                   'checkpoint'
        return None
    problem = path_problem(model, 'config', 'a Python config file (or an exported model '
                           'directory)')
    if problem:
        return problem
    if checkpoint is None:
        return (f'{model} is a config: a trained checkpoint is needed, or the model would '
                f'answer with random weights (python {tool} CONFIG CHECKPOINT ..., or an '
                'export directory)')
    return path_problem(checkpoint, 'checkpoint', 'a checkpoint file (.pth) written by '
                        'training')


__all__ = ['InferenceError', 'ToolExit', 'add_model_arguments', 'check_file', 'check_positive',
           'fail', 'fail_if', 'is_export_dir', 'model_problem', 'plural']
