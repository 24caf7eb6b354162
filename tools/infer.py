"""Answer questions about a scene (or a JSONL of records) with a trained model.

One scene, answers in map coordinates:

    python tools/infer.py CONFIG CHECKPOINT --image PATH [PATH ...] --modality M --prompt TEXT
        [--sensor S] [--bands B ...] [--task T] [--tile N --overlap K]
        [--geojson OUT.geojson] [--geojson-wgs84 OUT.geojson] [--out-png OUT.png]
        [--json OUT.json] [--device D] [--max-new-tokens N]

    e.g. a Sentinel-2 true-colour composite read by an optical model:
    python tools/infer.py configs/eov_tiny_pcma.py work_dirs/demo/final.pth \\
        --image s2_B04.jp2 s2_B03.jp2 s2_B02.jp2 --sensor sentinel2_l2a --bands B04 B03 B02 \\
        --modality optical --task detection --prompt "Detect all ships." \\
        --tile 256 --overlap 32 --geojson ships.geojson --out-png ships.png

Batch mode over eov records (e.g. a benchmark written by tools/convert_dataset.py):

    python tools/infer.py CONFIG CHECKPOINT --records test.jsonl [--data-root DIR] \\
        --out predictions.jsonl
    python tools/evaluate.py NAME --data test.jsonl --predictions predictions.jsonl

CONFIG may also be a directory written by tools/export_hf.py (then no CHECKPOINT); a
config without a checkpoint is refused (its model would answer with random weights). The
model is rebuilt from the config saved in the checkpoint (--model-from-config: from CONFIG).
Bad input exits with status 2 and one line naming the problem; arguments and files are
checked before the model is loaded.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.apis.checks import add_model_arguments, fail, fail_if  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Answer questions about a scene with an eov model; '
                                'spatial answers as GeoJSON in map coordinates.')
    add_model_arguments(p)
    src = p.add_argument_group('one scene')
    src.add_argument('--image', nargs='+', help='image file(s): one file, one file per band '
                     '(with --bands), or the frames/members of a multi-image modality')
    src.add_argument('--modality', default='optical', help='model modality (default optical)')
    src.add_argument('--prompt', help='the question')
    src.add_argument('--task', help='task whose head reads the answer (default: any geometry '
                     'in the text)')
    src.add_argument('--sensor', help="sensor of the files when not the configured one, e.g. "
                     "sentinel2_l2a (its R/G/B bands read by an optical model: true colour)")
    src.add_argument('--bands', nargs='+', help='band names, one per --image file')
    src.add_argument('--tile', type=int, help='answer the scene in tiles of N x N pixels '
                     '(N > 0; without --tile the image is answered whole)')
    src.add_argument('--overlap', type=int, default=None,
                     help='pixels shared by neighbouring tiles, 0 <= K < N (default N/8; '
                     'needs --tile)')
    src.add_argument('--iou-thr', type=float, default=None,
                     help='IoU from which objects of overlapping tiles merge (default 0.5; '
                     'needs --tile)')
    out = p.add_argument_group('outputs')
    out.add_argument('--geojson', help="write the objects as GeoJSON in the raster's CRS")
    out.add_argument('--geojson-wgs84', help='write the objects as GeoJSON in WGS84 lon/lat')
    out.add_argument('--out-png', help='draw the objects on a quick-look of the image')
    out.add_argument('--json', help='write the whole prediction (text, objects, tiles) as JSON')
    rec = p.add_argument_group('batch mode')
    rec.add_argument('--records', help='JSONL of eov records to answer')
    rec.add_argument('--data-root', help='root of relative image paths (default: the JSONL '
                     "file's folder)")
    rec.add_argument('--out', help='predictions JSONL (the form tools/evaluate.py reads)')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = p.parse_args(argv)
    if args.records is None and not args.image:
        p.error('give --image (one scene) or --records (batch mode)')
    if args.records is not None and args.image:
        p.error('--image and --records exclude each other')
    if args.records is not None and not args.out:
        p.error('--records needs --out predictions.jsonl')
    if args.image and args.prompt is None:
        p.error('--image needs --prompt')
    return args


def check_args(args) -> None:
    """One ``error:`` line for bad arguments and files, before the model is loaded."""
    from eov.apis.checks import check_positive, model_problem
    from eov.utils.constants import IMAGE_EXPECTED
    from eov.utils.io import path_problem
    fail_if(model_problem(args.model, args.checkpoint, 'tools/infer.py'))
    if args.records is not None:
        scene_only = [f'--{name.replace("_", "-")}' for name in
                      ('prompt', 'task', 'sensor', 'bands', 'tile', 'overlap', 'iou_thr',
                       'geojson', 'geojson_wgs84', 'out_png', 'json')
                      if getattr(args, name) is not None]
        if scene_only:
            fail(f'{", ".join(scene_only)} appl{"ies" if len(scene_only) == 1 else "y"} to '
                 'one scene (--image); with --records each record gives its own question, '
                 'task, images and bands')
        fail_if(path_problem(args.records, 'records file', 'a JSONL file of eov records'))
        if args.data_root is not None and not os.path.isdir(args.data_root):
            fail(f'--data-root {args.data_root} is not a directory')
    if args.image and not args.prompt.strip():
        fail('the prompt is empty: ask a question (--prompt)')
    for path in args.image or ():
        fail_if(path_problem(path, 'image file', IMAGE_EXPECTED))
    if args.tile is not None and args.tile <= 0:
        fail(f'--tile must be a tile size in pixels > 0, got {args.tile} (leave --tile out '
             'to answer the whole image at once)')
    if args.tile is None:
        given = [f'--{n}' for n in ('overlap', 'iou_thr') if getattr(args, n) is not None]
        if given:
            fail(f'{" and ".join(given).replace("_", "-")} only appl'
                 f'{"ies" if len(given) == 1 else "y"} to tiled inference: give --tile N as '
                 'well')
    elif args.overlap is not None and not 0 <= args.overlap < args.tile:
        fail(f'--overlap must be 0 <= K < --tile ({args.tile}), got {args.overlap}')
    if args.iou_thr is not None and not 0 < args.iou_thr <= 1:
        fail(f'--iou-thr must be in (0, 1], got {args.iou_thr}')
    check_positive(args, 'batch_size', 'max_new_tokens')


def _read_quicklook(pred, entry: dict, max_size: int = 1024):
    """A stretched RGB quick-look of the image, read decimated, and its scale to scene pixels."""
    from eov.apis.geo import quicklook, read_quicklook
    width, height = pred.image_size
    scale = min(1.0, max_size / max(width, height))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    image, _ = quicklook(read_quicklook(entry['path'], shape=shape), max_size=max_size)
    return image, image.shape[1] / width


def check_bands(inf, args) -> None:
    """``--image`` and ``--bands`` counts, in the terms of the command line."""
    from eov.apis.checks import plural
    plugin = inf._modality(args.modality)   # an unknown modality: named with the model's
    if not args.bands or plugin.multi_image:
        return
    files, bands = len(args.image), len(args.bands)
    if files > 1 and files != bands:
        fail(f'--image gives {plural(files, "file")} but --bands names {bands}: name one band '
             'per file (or give one file that holds all the bands, with --bands naming them '
             'in file order)')


def run_scene(inf, args) -> dict:
    from eov.apis.checks import plural
    from eov.apis.geo import draw_objects, write_geojson
    check_bands(inf, args)
    kwargs = dict(modality=args.modality, task=args.task, sensor=args.sensor, bands=args.bands,
                  max_new_tokens=args.max_new_tokens)
    if args.tile:
        overlap = args.overlap if args.overlap is not None else args.tile // 8
        iou_thr = args.iou_thr if args.iou_thr is not None else 0.5
        pred = inf.predict_scene(args.image, args.prompt, tile=args.tile, overlap=overlap,
                                 iou_thr=iou_thr, progress=not args.no_progress, **kwargs)
    else:
        pred = inf.predict(args.image, args.prompt, **kwargs)
    georef = pred.crs is not None and pred.transform is not None
    objects = plural(len(pred.objects), 'object')
    if len(pred.tiles) == 1:
        width, height = pred.image_size
        print(f'the scene ({width} x {height} px) fits in one tile of {args.tile} px: '
              f'answered whole; {objects}')
    elif pred.tiles:
        print(f'{len(pred.tiles)} tiles of {args.tile} px; {objects} after merging')
    else:
        print(f'answer: {pred.text}')
    for obj in pred.objects[:20]:
        print(f"  {obj['type']} {obj.get('label', '')} "
              f"{json.dumps({k: v for k, v in obj.items() if k not in ('type', 'label')})}")
    if len(pred.objects) > 20:
        print(f'  ... {len(pred.objects) - 20} more')
    if args.geojson:
        write_geojson(pred.to_geojson(), args.geojson)
        where = f'map coordinates ({pred.crs})' if georef else \
            'PIXEL coordinates: the raster has no georeferencing'
        print(f'GeoJSON ({plural(len(pred.objects), "feature")}, {where}) written to '
              f'{args.geojson}')
    if args.geojson_wgs84:
        if not georef:
            fail(f'{args.image[0]} has no georeferencing: --geojson-wgs84 needs a CRS and a '
                 'transform (use --geojson for pixel coordinates)')
        write_geojson(pred.to_geojson(to_wgs84=True), args.geojson_wgs84)
        print(f'GeoJSON (WGS84 lon/lat) written to {args.geojson_wgs84}')
    if args.out_png:
        entry = inf.image_entries(args.image, args.modality, args.sensor, args.bands)[0]
        image, scale = _read_quicklook(pred, entry)
        draw_objects(image, pred.objects, scale=scale, path=args.out_png)
        print(f'quick-look with {objects} written to {args.out_png}')
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(pred.to_dict(), f, indent=1)
        print(f'prediction written to {args.json}')
    return pred.to_dict()


def run_records(inf, args) -> list:
    from eov.apis.checks import plural
    lines = inf.predict_records(args.records, data_root=args.data_root, out_file=args.out,
                                progress=not args.no_progress,
                                max_new_tokens=args.max_new_tokens)
    errors = [line for line in lines if line.get('error')]
    print(f'{len(lines) - len(errors)} of {plural(len(lines), "record")} answered; '
          f'predictions written to {args.out}')
    if errors:
        for line in errors[:10]:
            print(f"  {line['error']}", file=sys.stderr)
        fail(f'{len(errors)} record(s) could not be answered (their lines in {args.out} carry '
             '"error")')
    return lines


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    from eov.apis import EOVInferencer
    from eov.datasets.schema import RecordError
    from eov.models.weights import CheckpointError
    from eov.modalities import RasterReadError
    try:
        inf = EOVInferencer(args.model, args.checkpoint, device=args.device,
                            use_saved_config=not args.model_from_config,
                            batch_size=args.batch_size)
        if args.records is not None:
            return run_records(inf, args)
        return run_scene(inf, args)
    except (RecordError, CheckpointError, RasterReadError, FileNotFoundError, ValueError) as err:
        fail(str(err))   # ValueError: InferenceError, tiling options, a CRS without a transform


if __name__ == '__main__':
    main()
