"""Import a whole open VLM in Hugging Face format as an :class:`EarthOneVision`.

The source's vision tower becomes an :class:`~eov.models.hf_vision.HFVisionTower`, its projector
an FGVLA aligner, its LM eov's LM and its tokenizer eov's tokenizer; eov's control and location
tokens are added to that tokenizer. The imported model gives the source's logits on the same
image and text (tested against the ``transformers`` classes on tiny random instances).

Families: InternVL (``transformers``-native ``InternVLForConditionalGeneration``:
InternViT, 2x2 pixel shuffle + LayerNorm/MLP projector, Qwen2 / LLaMA LM), LLaVA-OneVision
(``LlavaOnevisionForConditionalGeneration``: SigLIP, MLP projector with the base-image and
newline-closed tile layout of one tile, Qwen2 LM), Qwen2-VL and Qwen2.5-VL
(``Qwen2VLForConditionalGeneration`` / ``Qwen2_5_VLForConditionalGeneration``: their vision
transformer, the 2x2 patch merger as the aligner, the text model with 3-D M-RoPE positions,
which eov computes per packed sample) and Qwen3-VL (``Qwen3VLForConditionalGeneration``: the
same, with its DeepStack mergers in the aligner, whose features the LM adds after its first
layers).

New embedding rows (eov's ``<image>``, chat and location tokens the source's tokenizer lacks)
start at the mean of the source's rows, in the input and the output table: a new token is
predicted with an average logit until PCMA teaches it.
"""
from __future__ import annotations


# source weight prefix -> eov prefix, per family; both key layouts transformers has written
# (5.x ``model.language_model.*``, 4.x ``language_model.model.*``)
_LM_KEYS = (
    ('model.language_model.', 'lm.model.'), ('language_model.model.', 'lm.model.'),
    ('language_model.lm_head.', 'lm.lm_head.'), ('lm_head.', 'lm.lm_head.'),
)
_INTERNVL_KEYS = (
    ('model.vision_tower.', 'vision.tower.'), ('vision_tower.', 'vision.tower.'),
    ('model.multi_modal_projector.layer_norm.', 'aligner.norm.'),
    ('multi_modal_projector.layer_norm.', 'aligner.norm.'),
    ('model.multi_modal_projector.linear_1.', 'aligner.mlp.0.'),
    ('multi_modal_projector.linear_1.', 'aligner.mlp.0.'),
    ('model.multi_modal_projector.linear_2.', 'aligner.mlp.2.'),
    ('multi_modal_projector.linear_2.', 'aligner.mlp.2.'),
) + _LM_KEYS
# Qwen2-VL / 2.5: transformers 5.x in memory (model.visual, model.language_model) and on disk
# as released (visual.*, model.* for the LM); the first matching rule wins
_QWEN_VL_KEYS = (
    ('model.visual.merger.ln_q.', 'aligner.norm.'), ('visual.merger.ln_q.', 'aligner.norm.'),
    ('model.visual.merger.mlp.', 'aligner.mlp.'), ('visual.merger.mlp.', 'aligner.mlp.'),
    ('model.visual.', 'vision.tower.'), ('visual.', 'vision.tower.'),
) + _LM_KEYS + (('model.', 'lm.model.'),)
_QWEN3_VL_KEYS = tuple(
    (f'{head}visual.{src}', dst) for head in ('model.', '')
    for src, dst in (('merger.norm.', 'aligner.norm.'), ('merger.linear_fc1.', 'aligner.mlp.0.'),
                     ('merger.linear_fc2.', 'aligner.mlp.2.'),
                     ('deepstack_merger_list.', 'aligner.deepstack.'), ('', 'vision.tower.'))
) + _LM_KEYS + (('model.', 'lm.model.'),)
_LLAVA_OV_KEYS = (
    ('model.vision_tower.vision_model.', 'vision.tower.'), ('model.vision_tower.', 'vision.tower.'),
    ('vision_tower.vision_model.', 'vision.tower.'), ('vision_tower.', 'vision.tower.'),
    ('model.multi_modal_projector.linear_1.', 'aligner.mlp.0.'),
    ('multi_modal_projector.linear_1.', 'aligner.mlp.0.'),
    ('model.multi_modal_projector.linear_2.', 'aligner.mlp.2.'),
    ('multi_modal_projector.linear_2.', 'aligner.mlp.2.'),
    ('model.image_newline', 'aligner.image_newline'), ('image_newline', 'aligner.image_newline'),
) + _LM_KEYS


def source_sensor(source: str) -> str:
    """The optical sensor whose statistics are the source's image normalisation.

    Reads ``image_mean`` / ``image_std`` of the source's ``preprocessor_config.json``; without
    one (or with ImageNet's statistics) eov's ``'rgb'`` sensor (ImageNet) applies. Another
    normalisation (SigLIP's 0.5 / 0.5) is registered as ``rgb_mean<..>_std<..>`` and saved
    with the export (its ``processor_config.json`` carries the sensor specs).

    Args:
        source: The source directory.

    Returns:
        The sensor name for the optical modality.
    """
    import dataclasses
    import json
    import os

    from eov.modalities.sensors import get_sensor, register_sensor
    path = os.path.join(source, 'preprocessor_config.json')
    rgb = get_sensor('rgb')
    if not os.path.isfile(path):
        return 'rgb'
    with open(path, encoding='utf-8') as f:
        pre = json.load(f)
    mean, std = pre.get('image_mean'), pre.get('image_std')
    if mean is None or std is None:
        return 'rgb'
    mean, std = tuple(float(m) for m in mean), tuple(float(v) for v in std)
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f'{path}: image_mean / image_std of 3 channels expected, got '
                         f'{mean} / {std}')
    if all(abs(a - b) < 1e-6 for a, b in zip(mean + std, rgb.mean + rgb.std)):
        return 'rgb'
    name = 'rgb_mean{}_std{}'.format(*('-'.join(f'{v:g}' for v in vs) for vs in (mean, std)))
    register_sensor(dataclasses.replace(rgb, name=name, mean=mean, std=std))
    return name


def _plain_config(config) -> dict:
    """A ``transformers`` config as the keyword arguments that rebuild it."""
    out = config.to_diff_dict()
    for key in ('transformers_version', 'architectures', '_name_or_path', 'dtype',
                'torch_dtype'):
        out.pop(key, None)
    out['model_type'] = config.model_type
    return out


def _fixed_side(config, source: str, image_size: int | None) -> int:
    """The image side of a tower with a fixed position table (``image_size`` must agree)."""
    from .hf_vision import square_side
    side = square_side(config.vision_config.image_size)
    if image_size is not None and int(image_size) != side:
        raise ValueError(f'{source}/config.json: the tower takes {side} px images '
                         f'(vision_config.image_size); image_size={image_size} cannot be used')
    return side


def _model_config(config, source: str, serializer: dict, tied: bool, side: int,
                  aligner: dict, vision: dict | None = None, layer: int = -1,
                  **extra) -> dict:
    """What every imported family's eov ``model`` config shares: its tower (an
    ``HFVisionTower`` read at ``layer`` unless ``vision`` is given), its LM (tied as the
    checkpoint is), its tokenizer, one optical entry of ``side`` px at the source's
    normalisation."""
    language = _plain_config(config.text_config)
    language['tie_word_embeddings'] = tied
    return dict(
        type='EarthOneVision',
        data_preprocessor=dict(type='BaseDataPreprocessor'),
        vision=vision or dict(type='HFVisionTower', config=_plain_config(config.vision_config),
                              out_indices=(layer,)),
        aligner=aligner, language=dict(config=language),
        modalities=dict(optical=dict(type='optical', image_size=side,
                                     sensor=source_sensor(source))),
        serializer=serializer, tokenizer=source, attention='sdpa',
        resize_embeddings='grow', max_new_tokens='auto', **extra)


def internvl_model_config(config, source: str, serializer: dict, tied: bool,
                          image_size: int | None = None) -> dict:
    """The eov ``model`` config of an InternVL checkpoint.

    Args:
        config: The source's ``InternVLConfig``.
        source: The source directory (its tokenizer becomes eov's).
        serializer: SLIS serializer config.
        tied: Whether the source ties its output layer to the input embeddings.
        image_size: Side of the optical entry (a fixed-size tower: its own, or ``None``).

    Returns:
        A config dict for ``MODELS.build``.
    """
    where = f'{source}/config.json'
    if config.vision_feature_select_strategy != 'default':
        raise ValueError(f'{where}: vision_feature_select_strategy='
                         f'{config.vision_feature_select_strategy!r} (eov drops the class '
                         "token: 'default')")
    if config.downsample_ratio != 0.5 or config.projector_hidden_act != 'gelu':
        raise ValueError(f'{where}: downsample_ratio={config.downsample_ratio}, '
                         f'projector_hidden_act={config.projector_hidden_act!r}: eov imports '
                         "the InternVL projector with 0.5 and 'gelu'")
    layer = config.vision_feature_layer
    if not isinstance(layer, int):
        raise ValueError(f'{where}: vision_feature_layer={layer!r}: one layer expected')
    return _model_config(
        config, source, serializer, tied, _fixed_side(config, source, image_size),
        layer=layer, aligner=dict(type='MLPLastLayer', norm=True,
                     compress=dict(type='pixel_shuffle', factor=2)),
        # InternVL's prompts hold an image as <img> + its tokens + </img>
        image_wrap=('<img>', '</img>'))


def llava_onevision_model_config(config, source: str, serializer: dict, tied: bool,
                                 image_size: int | None = None) -> dict:
    """The eov ``model`` config of a LLaVA-OneVision checkpoint (arguments as
    :func:`internvl_model_config`)."""
    where = f'{source}/config.json'
    side = config.vision_config.image_size
    if config.vision_feature_select_strategy != 'full' or \
            not isinstance(config.vision_feature_layer, int):
        raise ValueError(f'{where}: vision_feature_select_strategy='
                         f'{config.vision_feature_select_strategy!r}, vision_feature_layer='
                         f"{config.vision_feature_layer!r}: eov imports 'full' and one layer")
    if config.projector_hidden_act != 'gelu' or \
            not str(config.vision_aspect_ratio).startswith('anyres_max_') or \
            [side, side] not in [list(p) for p in config.image_grid_pinpoints]:
        raise ValueError(f'{where}: eov lays out one image of the tower\'s {side} px as one '
                         f"tile ('gelu' projector, anyres_max_*, [{side}, {side}] among the "
                         'image_grid_pinpoints)')
    return _model_config(
        config, source, serializer, tied, _fixed_side(config, source, image_size),
        layer=config.vision_feature_layer,
        aligner=dict(type='LLaVAOneVisionMLP', bias=config.multimodal_projector_bias))


#: Image side of an imported Qwen-VL model unless one is given (Qwen's towers take any
#: multiple of 28 px; its processor's default range holds 448 x 448).
QWEN_IMAGE_SIZE = 448


def qwen_default_side(source: str, step: int) -> int:
    """The image side an imported Qwen-VL uses unless given: :data:`QWEN_IMAGE_SIZE`, brought
    within the pixel range of the source's image processor (``min_pixels`` / ``max_pixels``,
    or ``size.shortest_edge`` / ``size.longest_edge`` as transformers writes them) and
    rounded to a multiple of ``step`` (its merged patch)."""
    import json
    import math
    import os
    path = os.path.join(source, 'preprocessor_config.json')
    low, high = 0, math.inf
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            pre = json.load(f)
        size = pre.get('size') if isinstance(pre.get('size'), dict) else {}
        low = pre.get('min_pixels') or size.get('shortest_edge') or 0
        high = pre.get('max_pixels') or size.get('longest_edge') or math.inf
    side = max(step, int(min(max(QWEN_IMAGE_SIZE, math.sqrt(low)), math.sqrt(high)) // step)
               * step)
    if side * side < low and (side + step) ** 2 <= high:   # rounded below the minimum
        side += step
    return side


def qwen_vl_model_config(config, source: str, serializer: dict, tied: bool,
                         image_size: int | None = None) -> dict:
    """The eov ``model`` config of a Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint (arguments
    as :func:`internvl_model_config`; ``image_size`` a multiple of the tower's patch size
    times its merge size, default :func:`qwen_default_side`). Qwen3-VL's tower returns its
    DeepStack blocks and its last; :class:`~eov.models.aligners.QwenDeepStackMerger` merges
    them."""
    vision = config.vision_config
    step = vision.patch_size * vision.spatial_merge_size
    side = int(image_size or qwen_default_side(source, step))
    if side % step:
        raise ValueError(f'{source}/config.json: image_size={side} is not a multiple of '
                         f'{step} px (patch_size {vision.patch_size} x spatial_merge_size '
                         f'{vision.spatial_merge_size})')
    deepstack = list(getattr(vision, 'deepstack_visual_indexes', None) or [])
    if deepstack:
        aligner = dict(type='QwenDeepStackMerger', merge=vision.spatial_merge_size)
    else:
        aligner = dict(type='QwenPatchMerger', merge=vision.spatial_merge_size,
                       norm='rms' if config.model_type == 'qwen2_5_vl' else 'layer')
    return _model_config(
        config, source, serializer, tied, side,
        vision=dict(type='QwenVLVisionTower', config=_plain_config(vision), image_size=side,
                    out_indices=(*deepstack, -1)),
        aligner=aligner, image_wrap=('<|vision_start|>', '<|vision_end|>'))


#: Families :func:`import_hf_vlm` converts (``model_type`` of the source's ``config.json``):
#: how their weights are named and how their config becomes eov's.
FAMILIES = {'internvl': (_INTERNVL_KEYS, internvl_model_config),
            'llava_onevision': (_LLAVA_OV_KEYS, llava_onevision_model_config),
            'qwen2_vl': (_QWEN_VL_KEYS, qwen_vl_model_config),
            'qwen2_5_vl': (_QWEN_VL_KEYS, qwen_vl_model_config),
            'qwen3_vl': (_QWEN3_VL_KEYS, qwen_vl_model_config)}
SUPPORTED = tuple(FAMILIES)


def _map_keys(state: dict, rules, where: str) -> dict:
    out = {}
    for key, value in state.items():
        for src, dst in rules:
            if key.startswith(src):
                out[dst + key[len(src):]] = value
                break
    if not out:
        raise KeyError(f'{where}: none of its weights has a name this importer knows '
                       f'(e.g. {next(iter(state), None)!r})')
    return out


def import_hf_vlm(source: str, out_dir: str | None = None, serializer: dict | None = None,
                  dtype=None, image_size: int | None = None):
    """Convert a local Hugging Face VLM directory into an eov model (and export).

    Args:
        source: Local directory (``config.json``, safetensors, tokenizer files).
        out_dir: Where to write the eov export (``EarthOneVision.from_pretrained``,
            ``tools/infer.py`` and ``tools/serve.py`` take it); ``None`` writes nothing.
        serializer: SLIS serializer config (default ``LocTokenSerializer(bins=1000)``).
        dtype: Stored weight dtype of the export (``'bfloat16'``, ...).
        image_size: Side of the optical entry in pixels: a Qwen-VL tower takes any multiple
            of its merged patch (default 448 within the source processor's pixel range);
            the other families' towers their own size.

    Returns:
        ``(model, cfg)``: the model (eval mode, fp32) and the config dict it was built from.
    """
    from mmengine.registry import init_default_scope

    from eov.registry import MODELS
    from .hf_local import load_local_config, read_weights
    from .weights import CheckpointError
    config = load_local_config(source)
    if config.model_type not in SUPPORTED:
        raise ValueError(f'{source}/config.json: model_type {config.model_type!r} cannot be '
                         f'imported; supported: {", ".join(SUPPORTED)}')
    from transformers import AutoTokenizer
    try:
        original = len(AutoTokenizer.from_pretrained(source, local_files_only=True))
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f'{source}: no usable tokenizer files beside the model '
                                f'({str(err).splitlines()[0]})') from err
    vocab = config.text_config.vocab_size
    if original > vocab:
        raise ValueError(f'{source}: its tokenizer has {original} tokens but the LM\'s '
                         f'embedding table {vocab} rows (text_config.vocab_size): they do not '
                         'belong together')
    rules, family_config = FAMILIES[config.model_type]
    state = _map_keys(read_weights(source), rules, source)
    tied = 'lm.lm_head.weight' not in state
    serializer = serializer or dict(type='LocTokenSerializer', bins=1000)
    model_cfg = family_config(config, source, serializer, tied, image_size=image_size)
    init_default_scope('eov')
    model = MODELS.build(model_cfg)
    own = model.state_dict()
    tables = {'lm.model.embed_tokens.weight'} | (set() if tied else {'lm.lm_head.weight'})
    filled = {}
    for key, target in own.items():
        if key not in state:
            continue
        value = state[key]
        if key in tables:
            table = target.clone()
            table[:value.shape[0]] = value[:table.shape[0]]
            # eov's new tokens (ids from the source tokenizer's length on, possibly inside
            # the source's padded rows) start at the mean of the source's token rows
            table[original:len(model.tokenizer)] = value[:original].float().mean(0).to(
                table.dtype)
            value = table
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(f'{source}: {key} has shape {tuple(value.shape)} but the '
                                  f'imported model needs {tuple(target.shape)}')
        filled[key] = value
    missing = [k for k in own if k not in filled and not (tied and k == 'lm.lm_head.weight')]
    if missing:
        raise CheckpointError(f'{source}: {len(missing)} weights of the imported model are '
                              f'not in the checkpoint, e.g. {missing[:3]}')
    model.load_state_dict(filled, strict=not tied)
    model.eval()
    cfg = dict(model=model_cfg, modalities=model_cfg['modalities'], serializer=serializer)
    if out_dir is not None:
        model.save_pretrained(out_dir, cfg, dtype=dtype)
    return model, cfg
