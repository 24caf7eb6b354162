"""A local web page to ask a trained model about an image or GeoTIFF.

    python tools/serve.py CONFIG CHECKPOINT [--port 7860] [--host 127.0.0.1]
                          [--device cpu] [--examples DIR]
    python tools/serve.py EXPORT_DIR [...]          # a tools/export_hf.py directory

Open the printed address in a browser: upload an image (or pick one of the bundled
examples, or of --examples DIR), choose the modality and task, ask; the page shows the answer,
the objects drawn on a quick-look of the image, and a GeoJSON download. The
page loads nothing from the internet. Needs ``pip install -e '.[serve]'``.
See docs/web_demo.md. Bad arguments exit with status 2 and one ``error:`` line, checked
before the model is loaded (as tools/infer.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.apis.checks import add_model_arguments, fail, fail_if  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Serve a local web demo of an eov model.')
    add_model_arguments(p)
    p.add_argument('--host', default='127.0.0.1',
                   help='address to listen on (default 127.0.0.1: this machine only)')
    p.add_argument('--port', type=int, default=7860, help='port (default 7860)')
    p.add_argument('--examples', default=None, metavar='DIR',
                   help='folder of example images the page offers (default: the bundled '
                   'EOV-Synth v2 examples, eov/apis/web/examples; "none" for none)')
    p.add_argument('--max-upload-mb', type=float, default=1024.0,
                   help='largest upload accepted (MB, default 1024)')
    return p.parse_args(argv)


def check_args(args) -> None:
    """One-line errors for what is missing, before anything heavy is loaded."""
    from eov.apis.checks import check_positive, model_problem
    fail_if(model_problem(args.model, args.checkpoint, 'tools/serve.py'))
    if args.examples is None:
        from eov.apis.web.server import BUNDLED_EXAMPLES
        args.examples = BUNDLED_EXAMPLES
    elif args.examples.lower() == 'none':
        args.examples = None
    if args.examples is not None and not os.path.isdir(args.examples):
        fail(f'examples folder not found: {args.examples}' if not os.path.exists(args.examples)
             else f'--examples {args.examples} is not a directory: give a folder of images')
    if not 0 < args.port < 65536:
        fail(f'--port must be 1-65535, got {args.port}')
    check_positive(args, 'batch_size', 'max_new_tokens', 'max_upload_mb')


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    try:
        import uvicorn

        from eov.apis.web import create_app
    except ImportError as err:
        fail(f"the web demo needs fastapi, uvicorn and python-multipart (pip install -e "
             f"'.[serve]'): {err}")
    from eov.apis import EOVInferencer, InferenceError
    from eov.models.weights import CheckpointError
    try:
        inferencer = EOVInferencer(args.model, args.checkpoint, device=args.device,
                                   use_saved_config=not args.model_from_config,
                                   batch_size=args.batch_size,
                                   max_new_tokens=args.max_new_tokens)
    except (CheckpointError, InferenceError, FileNotFoundError, OSError) as err:
        fail(f'cannot load the model: {err}')
    except RuntimeError as err:   # e.g. a device that is not there
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fail(f'cannot load the model on {args.device}: {first}')
    name = os.path.basename(os.path.normpath(args.model))
    if args.checkpoint:
        name += f' ({os.path.basename(args.checkpoint)})'
    app = create_app(inferencer, examples_dir=args.examples, max_upload_mb=args.max_upload_mb,
                     title=f'eov web demo: {name}')
    host = f'[{args.host}]' if ':' in args.host else args.host
    shown = '127.0.0.1' if args.host in ('0.0.0.0', '::') else host
    print(f'eov web demo of {args.model}: modalities {", ".join(inferencer.modalities)}; '
          f'tasks {", ".join(inferencer.tasks)}', flush=True)
    print(f'open http://{shown}:{args.port}/ in a browser (Ctrl+C stops)', flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level='warning')


if __name__ == '__main__':
    main()
