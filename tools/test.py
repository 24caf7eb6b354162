"""Evaluate a checkpoint: generate on the test split and score.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]

The model is rebuilt from the config saved in the checkpoint (so a run trained with
--cfg-options model...=... loads as trained); data and evaluation come from CONFIG.

Writes DIR/metrics.json (flat {metric: number}) and DIR/predictions.jsonl (each record's
answer and verdict); with a per-modality TaskMetric (group_by='modality') also
DIR/scoreboard.json, printed as a table (a metric's `scoreboard_file` names another path).
This tool writes the scoreboard from the metrics the test returned.
Those files of an earlier run in DIR are removed when the run starts, and each is written
whole (temporary file + rename), so a run that fails or is killed never leaves an older
run's metrics beside its own predictions.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.engine.launch import (add_runner_arguments, build_runner,  # noqa: E402
                               clear_errors, parse_runner_args, prepare_config,
                               shutdown_distributed)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Evaluate an eov checkpoint.')
    p.add_argument('config', help='Python config file')
    p.add_argument('checkpoint', help='checkpoint file (.pth)')
    p.add_argument('--model-from-config', action='store_true',
                   help='build the model from CONFIG even when the checkpoint carries the '
                   'config it was trained with (by default the saved one decides the model)')
    add_runner_arguments(p, 'where metrics.json and predictions.jsonl go')
    return parse_runner_args(p, argv)


def main(argv=None):
    args = parse_args(argv)
    with clear_errors(args.debug):   # bad records / rasters / configs / checkpoints: one line
        result = evaluate(args)
    shutdown_distributed()
    return result


def evaluate(args):
    # a missing or unreadable checkpoint (FileNotFoundError, CheckpointError) is one
    # error line with exit status 2, as every other bad input (clear_errors)
    cfg = prepare_config(args.config, args.work_dir, args.cfg_options, args.launcher,
                         checkpoint=args.checkpoint,
                         use_saved_config=not args.model_from_config)
    evaluator = cfg.test_evaluator
    # (scoreboard.json is printed below whenever present: an earlier run's goes too)
    outputs = [os.path.join(cfg.work_dir, name) for name in ('metrics.json', 'scoreboard.json')]
    boards = []   # per metric: where its scoreboard goes (written below, not by the metric)
    for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
        metric.setdefault('predictions_file', os.path.join(cfg.work_dir, 'predictions.jsonl'))
        board = metric.pop('scoreboard_file', None)
        if board is None and metric.get('type') == 'TaskMetric' \
                and metric.get('group_by') == 'modality':
            board = os.path.join(cfg.work_dir, 'scoreboard.json')
        boards.append(board)
        outputs += [p for p in (metric.get('predictions_file'), board) if p and p not in outputs]
    if int(os.environ.get('RANK', '0')) == 0:
        remove_earlier_outputs(outputs)
    runner = build_runner(cfg)
    # Strict: a checkpoint that does not fit the config's model (another patch size,
    # vocabulary, aligner...) is one CheckpointError naming the file, the weights that
    # differ and a changed vocabulary -- never a silently half-loaded model.
    runner.load_checkpoint(args.checkpoint, strict=True)
    runner._has_loaded = True   # MMEngine's test() would otherwise reload non-strictly
    metrics = runner.test()
    if runner.rank == 0:
        from eov.utils.io import write_text_atomically
        flat = {k: float(v) for k, v in metrics.items()}
        path = os.path.join(cfg.work_dir, 'metrics.json')
        write_text_atomically(path, json.dumps(flat, indent=2, sort_keys=True))
        print(json.dumps(flat, indent=2, sort_keys=True))
        print(f'metrics written to {path}')
        write_scoreboards(metrics, boards, runner.test_evaluator.metrics)
        from eov.evaluation.scoreboard import print_table
        board = os.path.join(cfg.work_dir, 'scoreboard.json')
        if print_table(board):
            print(f'scoreboard written to {board}')
    return metrics


def write_scoreboards(metrics, paths, evaluator_metrics):
    """Write the scoreboard of each built metric that has a path (``paths``, in the same
    order) from its own keys (those under its prefix) of what the test returned."""
    from eov.evaluation.scoreboard import save_scoreboard, scoreboard_from_metrics
    for path, metric in zip(paths, evaluator_metrics):
        if not path:
            continue
        prefix = f'{metric.prefix}/' if metric.prefix else ''
        own = {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
        save_scoreboard(scoreboard_from_metrics(own, primary=getattr(metric, 'primary_metrics',
                                                                     None),
                                                grouped=bool(getattr(metric, 'group_by', None))),
                        path)


def remove_earlier_outputs(paths):
    """Remove the result files an earlier run left where this run writes its own.

    Args:
        paths: Files this run will write (metrics, predictions, scoreboard).

    Returns:
        The paths that were removed (each logged).
    """
    removed = []
    for path in paths:
        for stale in (path, path + '.partial'):
            if os.path.isfile(stale):
                os.remove(stale)
                removed.append(stale)
    if removed:
        print(f'removed the results of an earlier run: {", ".join(removed)}', flush=True)
    return removed


if __name__ == '__main__':
    main()
