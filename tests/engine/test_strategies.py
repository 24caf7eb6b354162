"""Strategies chosen by config: validation, one place for the numerics, bf16, accumulation.

The multi-process parity tests (DDP, FSDP, resume across strategies) run real
torchrun processes: tests/tools/test_distributed.py.
"""
import copy
import importlib.util
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from eov.engine.strategies import StrategyError, accumulation_steps, apply_strategy

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import tiny_train_options


def _cfg(**over):
    from eov.engine.config import load_config
    cfg = load_config(TINY_CONFIG, over)
    return cfg


def test_defaults_give_ddp_with_clipping_in_one_place():
    cfg = _cfg()
    out = apply_strategy(cfg, processes=1)
    assert out['type'] == 'ddp' and out['accumulation'] == 1
    assert cfg.optim_wrapper.type == 'EOVOptimWrapper'
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)   # strategy.grad_clip
    assert 'accumulative_counts' not in cfg.optim_wrapper
    assert cfg.model_wrapper_cfg['type'] == 'eov.EOVDistributedDataParallel'
    assert cfg.model_wrapper_cfg['find_unused_parameters'] is True


def test_global_batch_size_derives_accumulation():
    cfg = _cfg(**{'strategy.global_batch_size': 32, 'train_dataloader.batch_size': 4})
    out = apply_strategy(cfg, processes=2)
    assert out['accumulation'] == 4 and cfg.optim_wrapper.accumulative_counts == 4
    assert accumulation_steps(None, 4, 8) == 1
    with pytest.raises(StrategyError, match=r'global_batch_size=12 is not a multiple of '
                       r'train_dataloader.batch_size \(4\) x processes \(2\) = 8; choose e.g. 16'):
        accumulation_steps(12, 4, 2)
    # a token-budget stream's batches have no fixed sample count
    cfg = _cfg(**{'strategy.global_batch_size': 32,
                  'train_dataloader.dataset': dict(type='StreamingInstructionDataset',
                                                   shards='s', max_tokens=4096)})
    with pytest.raises(StrategyError, match=r'global_batch_size=32 counts samples, but the '
                       r"stream's batches are token budgets \(max_tokens=4096\)"):
        apply_strategy(cfg, processes=2)


@pytest.mark.parametrize('key,value,where', [
    ('optim_wrapper.clip_grad', dict(max_norm=2.0), 'strategy.grad_clip'),
    ('optim_wrapper.accumulative_counts', 4, 'strategy.global_batch_size'),
    ('optim_wrapper.dtype', 'bfloat16', 'strategy.precision'),
])
def test_numerics_set_twice_are_refused_with_the_place(key, value, where):
    cfg = _cfg(**{key: value})
    with pytest.raises(StrategyError, match=f'{key} is set by {where}'):
        apply_strategy(cfg, processes=1)


def test_a_hand_picked_optim_wrapper_type_is_refused():
    cfg = _cfg(**{'optim_wrapper.type': 'AmpOptimWrapper'})
    with pytest.raises(StrategyError, match='follows strategy.precision'):
        apply_strategy(cfg, processes=1)


@pytest.mark.parametrize('over,message', [
    ({'strategy.type': 'fsdp2'}, "strategy.type='fsdp2': choose one of ddp, fsdp, deepspeed"),
    ({'strategy.zero_stage': 3}, "strategy.zero_stage: not a setting of strategy type 'ddp'"),
    ({'strategy.precision': 'bf32'}, "strategy.precision='bf32'"),
    ({'strategy.grad_clip': -1}, 'strategy.grad_clip=-1'),
    ({'strategy.global_batch_size': 0}, 'strategy.global_batch_size=0'),
])
def test_bad_settings_name_the_key(over, message):
    with pytest.raises(StrategyError) as err:
        apply_strategy(_cfg(**over), processes=1)
    assert message in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU refusal')
def test_fp16_needs_cuda():
    with pytest.raises(StrategyError, match="'fp16' needs CUDA"):
        apply_strategy(_cfg(**{'strategy.precision': 'fp16'}), processes=1)


def test_fsdp_settings_go_to_its_wrapper():
    cfg = _cfg(**{'strategy.type': 'fsdp', 'strategy.precision': 'bf16',
                  'strategy.reshard_after_forward': False})
    apply_strategy(cfg, processes=2)
    assert cfg.model_wrapper_cfg == dict(type='eov.EOVFullyShardedDataParallel',
                                         reshard_after_forward=False, shard_modules='auto',
                                         param_dtype='bfloat16')
    # FSDP casts the parameters itself: no autocast on top
    assert cfg.optim_wrapper.type == 'EOVOptimWrapper' and cfg.optim_wrapper.autocast_dtype is None


@pytest.mark.skipif(importlib.util.find_spec('deepspeed') is not None,
                    reason='DeepSpeed is installed: the refusal does not apply')
def test_deepspeed_without_the_package_is_one_clear_line(synth_data, tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path),
         *tiny_train_options(synth_data, 1, 1), 'strategy.type=deepspeed'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert ("error: strategy.type='deepspeed' needs the DeepSpeed package, which is not "
            "installed") in proc.stderr
    assert "pip install 'eov[deepspeed]'" in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec('deepspeed') is None,
                    reason='DeepSpeed is not installed (optional extra eov[deepspeed])')
def test_deepspeed_settings_translate_to_mmengine():
    cfg = _cfg(**{'strategy.type': 'deepspeed', 'strategy.zero_stage': 3,
                  'strategy.precision': 'bf16', 'strategy.global_batch_size': 16,
                  'train_dataloader.batch_size': 4})
    apply_strategy(cfg, processes=2)
    ds = cfg.deepspeed_strategy
    assert ds['type'] == 'DeepSpeedStrategy' and ds['zero_optimization'] == dict(stage=3)
    assert ds['bf16'] == dict(enabled=True) and ds['gradient_clipping'] == 1.0
    assert ds['train_micro_batch_size_per_gpu'] == 4 and ds['gradient_accumulation_steps'] == 2
    assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'


def _train_in_process(cfg, work_dir):
    from eov.engine.launch import build_runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.param_scheduler = []   # constant LR: iterations and optimizer steps then agree
    cfg.default_hooks.checkpoint.interval = 1000
    runner = build_runner(cfg)
    runner.train()
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.slow
def test_accumulation_equals_the_big_batch(synth_data, tmp_path):
    """4 samples x 2 accumulation for 4 iterations == 8 samples for 2 iterations (the
    tiny grounding answers all have the same number of tokens, so the mean of the two
    micro-batch means is the mean over the 8 samples)."""
    base = {'data_root': synth_data, 'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False}
    big = _cfg(**base, **{'train_dataloader.batch_size': 8, 'train_cfg.max_iters': 2})
    acc = _cfg(**base, **{'train_dataloader.batch_size': 4, 'train_cfg.max_iters': 4,
                          'strategy.global_batch_size': 8})
    a = _train_in_process(big, tmp_path / 'big')
    b = _train_in_process(acc, tmp_path / 'acc')
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst < 2e-5, worst
    # and the weights did move (the comparison is not between two untrained models)
    fresh = _train_in_process(_cfg(**base, **{'train_dataloader.batch_size': 8,
                                              'train_cfg.max_iters': 0}), tmp_path / 'zero')
    assert max((a[k].float() - fresh[k].float()).abs().max().item() for k in a) > 1e-3


def test_activation_checkpointing_gives_the_same_gradients(tiny_cfg):
    from mmengine.registry import init_default_scope

    from eov.registry import MODELS
    init_default_scope('eov')
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(copy.deepcopy(tiny_cfg.model)).train()
        if checkpointing:
            assert 'layers' in model.enable_activation_checkpointing()
            assert any(getattr(m, 'gradient_checkpointing', False) for m in model.lm.modules())
            assert model.vision.vit.grad_checkpointing
        from eov.datasets import InstructionDataset  # noqa: F401  (registers)
        from eov.registry import DATASETS
        ds = DATASETS.build(copy.deepcopy(tiny_cfg.train_dataloader.dataset))
        from eov.datasets.collate import eov_collate
        batch = model.data_preprocessor(eov_collate([ds[0], ds[1]]), True)
        loss = model(**batch, mode='loss')['loss']
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


def test_strategy_lives_in_the_base_runtime_only():
    cfg = Config.fromfile(TINY_CONFIG)
    assert cfg.strategy == dict(type='ddp', precision='fp32', global_batch_size=None,
                                grad_clip=1.0, activation_checkpointing=False)
    assert 'clip_grad' not in cfg.optim_wrapper


def test_applying_twice_is_the_same_as_once():
    """A Runner built twice from one config (a notebook) must not see its own settings
    as a second source of truth."""
    cfg = _cfg(**{'strategy.global_batch_size': 8, 'train_dataloader.batch_size': 4})
    first = apply_strategy(cfg, processes=1)
    optim = copy.deepcopy(cfg.optim_wrapper)
    assert apply_strategy(cfg, processes=1) == first
    assert cfg.optim_wrapper == optim and optim.accumulative_counts == 2
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel')
    with pytest.raises(StrategyError, match="conflicts with strategy.type='ddp'"):
        apply_strategy(cfg, processes=1)
