"""Train an eov model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--cfg-options k=v ...] [--resume [CKPT]]
    torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch
    python tools/train.py CHAIN_CONFIG [--stage NAME] [--resume]   # PCMA stages in order
    python tools/train.py CONFIG --stop-at N    # the first N iterations of the full schedule
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.engine.chain import run_chain  # noqa: E402
from eov.engine.launch import (add_runner_arguments, build_runner,  # noqa: E402
                               clear_errors, parse_runner_args, prepare_config,
                               shutdown_distributed)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train an eov model.')
    p.add_argument('config', help='Python config file')
    p.add_argument('--resume', nargs='?', const=True, default=False,
                   help='resume from the latest checkpoint in the work dir, or from CKPT')
    p.add_argument('--stage', help='PCMA chain configs: run only this stage (it starts from '
                   "the previous stage's final weights in the work dir)")
    p.add_argument('--stop-at', type=int, metavar='N',
                   help='end after N iterations (of every stage of a chain) with the '
                        'learning-rate schedule of the full length: a probe of a long '
                        "run's first iterations")
    add_runner_arguments(p, 'where logs and checkpoints go')
    return parse_runner_args(p, argv)


def main(argv=None):
    args = parse_args(argv)
    with clear_errors(args.debug):   # bad records / rasters / configs / checkpoints: one line
        train(args)
    shutdown_distributed()


def train(args):
    if args.stop_at is not None and args.stop_at < 1:
        raise SystemExit(f'error: --stop-at must be >= 1, got {args.stop_at}')
    cfg = prepare_config(args.config, args.work_dir, args.cfg_options, args.launcher,
                         args.resume)
    if cfg.get('stages'):
        if isinstance(args.resume, str):
            raise SystemExit('--resume CKPT: a PCMA chain resumes from its work dir; give '
                             '--resume alone (or set the first stage\'s init)')
        final = run_chain(cfg, only=args.stage, resume=bool(args.resume),
                          stop_at=args.stop_at)
        print(f'PCMA chain weights: {final}')
        return
    if args.stage:
        raise SystemExit(f'--stage {args.stage}: {args.config} has no `stages` (not a PCMA chain)')
    if args.stop_at is not None:   # the schedule keeps the length it was resolved with
        cfg.train_cfg.max_iters = min(args.stop_at, cfg.train_cfg.max_iters)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
