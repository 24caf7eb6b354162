"""Reading Hugging Face model directories from local disk only (never a download).

A directory as ``save_pretrained`` writes it: ``config.json`` and the weights as one
``model.safetensors`` or shards listed in ``model.safetensors.index.json``. Every error
names the directory and the file.
"""
from __future__ import annotations

import json
import os


def load_local_config(path: str):
    """The ``transformers`` config of a local model directory.

    Args:
        path: Directory holding ``config.json``.

    Returns:
        A ``PretrainedConfig`` (``AutoConfig``), read with ``local_files_only=True``.
    """
    config_file = os.path.join(str(path), 'config.json')
    if not os.path.isdir(str(path)):
        raise FileNotFoundError(f'{path}: not a directory (a Hugging Face model is given as the '
                                'local directory save_pretrained wrote; eov never downloads)')
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f'{config_file}: not found (a Hugging Face model directory has a '
                                'config.json)')
    from transformers import AutoConfig
    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except ValueError as err:   # unknown model_type for this transformers version
        raise ValueError(f'{config_file}: {str(err).splitlines()[0]}') from err


def weight_files(path: str) -> list[str]:
    """The safetensors files of a local model directory, shards checked against the index.

    Args:
        path: Model directory.

    Returns:
        Paths of every weights file.
    """
    path = str(path)
    index = os.path.join(path, 'model.safetensors.index.json')
    if os.path.isfile(index):
        with open(index, encoding='utf-8') as f:
            shards = sorted(set(json.load(f).get('weight_map', {}).values()))
        missing = [s for s in shards if not os.path.isfile(os.path.join(path, s))]
        if missing:
            raise FileNotFoundError(f'{index} lists {len(shards)} weight shards but '
                                    f'{len(missing)} are missing: {", ".join(missing[:3])}')
        return [os.path.join(path, s) for s in shards]
    single = os.path.join(path, 'model.safetensors')
    if os.path.isfile(single):
        return [single]
    raise FileNotFoundError(f'{path}: no model.safetensors (nor model.safetensors.index.json); '
                            'eov reads Hugging Face weights in safetensors format only')


def read_weights(path: str, select=None) -> dict:
    """Read the tensors of a local model directory.

    Args:
        path: Model directory.
        select: Optional ``key -> bool``; only the keys it accepts are read.

    Returns:
        ``{key: tensor}`` (CPU).
    """
    from safetensors import safe_open
    state = {}
    for file in weight_files(path):
        try:
            with safe_open(file, framework='pt', device='cpu') as f:
                for key in f.keys():
                    if select is None or select(key):
                        state[key] = f.get_tensor(key)
        except Exception as err:   # header or data unreadable
            if isinstance(err, (MemoryError, KeyboardInterrupt)):
                raise
            raise ValueError(f'{file}: not a readable safetensors file (truncated or '
                             f'corrupt?): {err}') from err
    return state


def strip_prefix(state: dict, anchor: str, where: str) -> dict:
    """Keep the keys under the prefix at which ``anchor`` sits, with that prefix removed.

    A tower saved alone names its patch embedding ``embeddings.patch_embedding.weight``; the
    same tower inside a two-tower or a whole VLM checkpoint ``vision_model.embeddings...`` or
    ``model.vision_tower.embeddings...``: the anchor key finds the prefix.

    Args:
        state: Tensors read from the directory.
        anchor: A key of the module to load, relative to the module.
        where: The directory (for the error).

    Returns:
        The module's part of ``state`` with module-relative keys.
    """
    hits = sorted((k for k in state if k == anchor or k.endswith('.' + anchor)), key=len)
    if not hits:
        raise KeyError(f'{where}: no weight named like {anchor!r} in its safetensors files '
                       '(is this the model the config describes?)')
    prefix = hits[0][:len(hits[0]) - len(anchor)]
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
