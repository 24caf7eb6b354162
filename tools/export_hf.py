"""Export a checkpoint as a Hugging Face style directory (safetensors + config + tokenizer).

    python tools/export_hf.py CONFIG CHECKPOINT OUT_DIR [--dtype bfloat16]
                              [--cfg-options k=v ...] [--model-from-config]

The model is rebuilt from the config saved in the checkpoint (so a run trained with
--cfg-options model...=... exports as trained), its weights are loaded strictly, and
OUT_DIR gets model.safetensors, config.json, generation_config.json, the tokenizer files,
processor_config.json (with the specs of the sensors the modalities use) and README.md.
Load it back with ``EarthOneVision.from_pretrained(OUT_DIR)``. See docs/hf_export.md.
Bad input exits with status 2 and one ``error:`` line naming the file.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='Export an eov checkpoint in Hugging Face format.')
    p.add_argument('config', help='Python config file')
    p.add_argument('checkpoint', help='checkpoint file (.pth)')
    p.add_argument('out_dir', help='output directory (created)')
    p.add_argument('--dtype', choices=['float32', 'bfloat16', 'float16'], default=None,
                   help="dtype of the stored weights (default: the model's, float32)")
    p.add_argument('--model-from-config', action='store_true',
                   help='build the model from CONFIG even when the checkpoint carries the '
                   'config it was trained with (by default the saved one decides the model)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config keys, e.g. model.attention=sdpa')
    return p.parse_args(argv)


def _size(num_bytes: float) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if num_bytes < 1024 or unit == 'GiB':
            return f'{num_bytes:.0f} {unit}' if unit == 'B' else f'{num_bytes:.1f} {unit}'
        num_bytes /= 1024


def main(argv=None):
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    from eov.apis.checks import fail, fail_if
    from eov.utils.io import path_problem
    from eov.engine.config import config_for_checkpoint
    from eov.models.hf_format import save_pretrained
    from eov.models.weights import CheckpointError, load_weights, read_checkpoint
    from eov.registry import MODELS
    fail_if(path_problem(args.config, 'config file', 'a Python config file')
            or path_problem(args.checkpoint, 'checkpoint', 'a checkpoint file (.pth) written '
                            'by training'))
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        fail(f'output {args.out_dir} is a file: give a directory to write the export into')
    try:
        ckpt = read_checkpoint(args.checkpoint)   # read once: config and weights
        cfg, source = config_for_checkpoint(args.config, args.checkpoint, args.cfg_options,
                                            use_saved=not args.model_from_config, loaded=ckpt)
    except (FileNotFoundError, CheckpointError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        fail(f'{message}')
    print('model settings from ' + (f'the config saved in {args.checkpoint}'
                                    if source == 'checkpoint' else args.config))
    init_default_scope('eov')
    try:
        model = MODELS.build(cfg.model)
    except (FileNotFoundError, KeyError, ValueError) as err:
        fail(f'cannot build the model of {args.config}: {err}')
    try:
        load_weights(model, ckpt, args.checkpoint, cfg=cfg)   # strict
    except CheckpointError as err:
        fail(f'{err}')
    model.eval()
    try:
        save_pretrained(model, cfg, args.out_dir, dtype=args.dtype)
    except (TypeError, ValueError, OSError) as err:
        fail(f'cannot export to {args.out_dir}: {err}')

    total = 0
    print(f'wrote {args.out_dir}:')
    for name in sorted(os.listdir(args.out_dir)):
        size = os.path.getsize(os.path.join(args.out_dir, name))
        total += size
        print(f'  {name:<28} {_size(size):>10}')
    n_params = sum(p.numel() for p in model.parameters())
    dtype = args.dtype or str(next(model.parameters()).dtype).replace('torch.', '')
    print(f'total {_size(total)}; {n_params:,} parameters, weights stored as {dtype}')
    print(f"load with: EarthOneVision.from_pretrained('{args.out_dir}')")
    return args.out_dir


if __name__ == '__main__':
    main()
