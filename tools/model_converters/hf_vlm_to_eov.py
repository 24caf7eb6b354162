"""Import a whole open VLM in Hugging Face format as an eov model (an eov export directory).

    python tools/model_converters/hf_vlm_to_eov.py SRC OUT [--dtype bfloat16] [--bins 1000]
        [--image-size 448]

SRC is a local directory as ``save_pretrained`` writes it (config.json, safetensors, tokenizer
files; nothing is downloaded). Supported: InternVL, LLaVA-OneVision, Qwen2-VL and Qwen2.5-VL
(their ``transformers`` classes; ``--image-size`` sets the side a Qwen-VL tower is used at).
OUT is an eov export: ``EarthOneVision.from_pretrained(OUT)``, ``tools/infer.py OUT``,
``tools/serve.py OUT`` take it, and a training config starts from it with
``load_from='OUT/model.safetensors'``. Bad input exits with status 2 and one ``error:`` line.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Import a Hugging Face VLM as an eov model.')
    p.add_argument('source', help='local Hugging Face model directory')
    p.add_argument('out_dir', help='output directory (an eov export; created)')
    p.add_argument('--dtype', choices=['float32', 'bfloat16', 'float16'], default=None,
                   help='dtype of the stored weights (default float32)')
    p.add_argument('--bins', type=int, default=1000,
                   help='location bins of the SLIS serializer added to the tokenizer '
                   '(default 1000)')
    p.add_argument('--image-size', type=int, default=None,
                   help='image side in pixels (Qwen-VL: any multiple of its merged patch, '
                   'default 448; other families: their tower\'s size)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from eov.apis.checks import fail
    from eov.models.hf_vlm import import_hf_vlm
    from eov.models.weights import CheckpointError
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        fail(f'output {args.out_dir} is a file: give a directory to write the model into')
    if args.bins < 2:
        fail(f'--bins must be at least 2, got {args.bins}')
    try:
        model, _ = import_hf_vlm(args.source, args.out_dir, dtype=args.dtype,
                                 serializer=dict(type='LocTokenSerializer', bins=args.bins),
                                 image_size=args.image_size)
    except (FileNotFoundError, CheckpointError, ValueError, KeyError) as err:
        fail(f'{err.args[0] if isinstance(err, KeyError) and err.args else err}')
    n_params = sum(p.numel() for p in model.parameters())
    rows = model.lm.get_input_embeddings().weight.shape[0]
    print(f'imported {args.source}: {n_params:,} parameters, {len(model.tokenizer)} tokens '
          f'({rows} embedding rows) -> {args.out_dir}')
    print(f"load with: EarthOneVision.from_pretrained('{args.out_dir}')")
    return args.out_dir


if __name__ == '__main__':
    main()
