"""Train an eov model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--cfg-options k=v ...] [--resume [CKPT]]
    torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.engine.runner import (add_runner_arguments, build_runner,  # noqa: E402
                               parse_runner_args, prepare_config)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train an eov model.')
    p.add_argument('config', help='Python config file')
    p.add_argument('--resume', nargs='?', const=True, default=False,
                   help='resume from the latest checkpoint in the work dir, or from CKPT')
    add_runner_arguments(p, 'where logs and checkpoints go')
    return parse_runner_args(p, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = prepare_config(args.config, args.work_dir, args.cfg_options, args.launcher,
                         args.resume)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
