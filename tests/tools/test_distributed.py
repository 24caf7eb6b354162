import copy
import os

import pytest

from eov.models.weights import load_checkpoint_safely

from ..conftest import TINY_CONFIG
from ..helpers import tiny_train_options, train_with_torchrun


@pytest.mark.slow
def test_torchrun_two_cpu_processes(synth_data, tmp_path):
    work = str(tmp_path / 'ddp')
    log = train_with_torchrun(TINY_CONFIG, work, tiny_train_options(synth_data, 2, 2)).log
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # MMEngine's name for the world size
    assert 'Iter(train) [2/2]' in log
    ckpt = load_checkpoint_safely(os.path.join(work, 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    # DDP state dicts are saved without the 'module.' prefix
    assert all(not k.startswith('module.') for k in ckpt['state_dict'])


# -- parity and strategies (real torchrun processes on CPU, gloo) ---------------------------
# Two processes' batches of b train as one batch of 2b: parameters must agree to float
# rounding (stated tolerance below). The loss is divided by the answer tokens of both
# processes (model.loss_normalization='global'), so this holds for answers of different
# lengths too (tests/tools/test_distributed_streaming.py).
PARITY_ATOL = 5e-5


def _options(data, iters, batch, *extra):
    opts = tiny_train_options(data, iters, 2)
    opts[opts.index('train_dataloader.batch_size=4')] = f'train_dataloader.batch_size={batch}'
    # a constant LR (one-cycle without warm-up or decay): every iteration moves the weights
    return opts + ['param_scheduler.0.div_factor=1', 'param_scheduler.0.final_div_factor=1',
                   *extra]


def _weights(work, name):
    return load_checkpoint_safely(os.path.join(work, name))['state_dict']


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope='module')
def single_process_run(synth_data, tmp_path_factory):
    """One process, batch 8 (padded), 4 iterations: the reference of the parity tests."""
    from ..helpers import run_tool
    work = str(tmp_path_factory.mktemp('single'))
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, *_options(synth_data, 4, 8)])
    return work


@pytest.mark.slow
@pytest.mark.parametrize('packing', [False, True])
def test_ddp_two_processes_equal_one_with_the_double_batch(synth_data, tmp_path, packing,
                                                           single_process_run):
    """Packed rows compute the same loss as padded ones, so both compare with one
    padded single-process run."""
    work = str(tmp_path / 'ddp')
    log = train_with_torchrun(TINY_CONFIG, work, _options(
        synth_data, 4, 4, f'train_dataloader.collate_fn.packing={packing}')).log
    assert 'strategy ddp: 2 process(es) x 4 samples x 1 accumulation = 8 samples' in log
    single = _weights(single_process_run, 'iter_4.pth')
    assert _max_diff(_weights(work, 'iter_4.pth'), single) < PARITY_ATOL
    start = _weights(single_process_run, 'iter_2.pth')
    assert _max_diff(single, start) > 1e-3   # the weights moved: not a vacuous comparison


@pytest.mark.slow
def test_fsdp_matches_ddp_resumes_and_loads_into_one_process(synth_data, tmp_path,
                                                             single_process_run, tiny_cfg):
    """FSDP2 on 2 CPU processes: same weights as one process with the double batch; its
    checkpoint loads into a single-process model (same logits); killed after iteration 2
    and resumed -- under FSDP, and under plain DDP in one process -- it ends where the
    uninterrupted run ends."""
    import shutil

    import torch
    from mmengine.registry import init_default_scope

    from eov.registry import MODELS
    fsdp = str(tmp_path / 'fsdp')
    log = train_with_torchrun(TINY_CONFIG, fsdp, _options(synth_data, 4, 4,
                                                          'strategy.type=fsdp')).log
    assert 'strategy fsdp: 2 process(es)' in log
    full = _weights(fsdp, 'iter_4.pth')
    single = _weights(single_process_run, 'iter_4.pth')
    assert _max_diff(full, single) < PARITY_ATOL

    # the FSDP checkpoint is a plain full checkpoint: strict load into one process
    from eov.datasets.collate import eov_collate
    from eov.registry import DATASETS
    init_default_scope('eov')
    dataset = DATASETS.build(copy.deepcopy(tiny_cfg.train_dataloader.dataset))
    logits = []
    for weights in (full, single):
        model = MODELS.build(copy.deepcopy(tiny_cfg.model)).eval()
        model.load_state_dict(weights, strict=True)
        batch = model.data_preprocessor(eov_collate([dataset[0], dataset[1]]), False)
        with torch.no_grad():
            logits.append(model(**batch, mode='tensor'))
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-4, atol=1e-4)

    # a kill after the checkpoint of iteration 2: resume under FSDP
    for resume_as, strategy, nproc, batch in (('fsdp_resumed', 'fsdp', 2, 4),
                                              ('ddp_resumed', 'ddp', 1, 8)):
        work = str(tmp_path / resume_as)
        os.makedirs(work)
        shutil.copy(os.path.join(fsdp, 'iter_2.pth'), work)
        with open(os.path.join(work, 'last_checkpoint'), 'w') as f:
            f.write(os.path.join(work, 'iter_2.pth'))
        opts = _options(synth_data, 4, batch, f'strategy.type={strategy}')
        if nproc == 2:
            log = train_with_torchrun(TINY_CONFIG, work, opts, resume=True).log
        else:
            from ..helpers import run_tool
            proc = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume',
                             *opts])
            log = proc.stdout + proc.stderr
        assert 'resumed epoch: 0, iter: 2' in log, resume_as
        assert _max_diff(_weights(work, 'iter_4.pth'), full) < PARITY_ATOL, resume_as
