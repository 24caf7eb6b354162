"""Train an eov model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--cfg-options k=v ...] [--resume [CKPT]]
    torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.engine.runner import DictAction, build_runner, prepare_config  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train an eov model.')
    p.add_argument('config', help='Python config file')
    p.add_argument('--work-dir', help='where logs and checkpoints go')
    p.add_argument('--resume', nargs='?', const=True, default=False,
                   help='resume from the latest checkpoint in the work dir, or from CKPT')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config keys, e.g. train_cfg.max_iters=4')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                   help="'pytorch' when started by torchrun")
    p.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = prepare_config(args.config, args.work_dir, args.cfg_options, args.launcher,
                         args.resume)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
