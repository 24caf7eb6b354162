"""PCMA stage specs: trainable patterns, config of a stage run, the mixture sampler."""
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from eov.datasets import InstructionDataset, MixtureSampler
from eov.datasets.samplers import source_weights
from eov.engine.config import load_config
from eov.registry import STAGES
from eov.stages import AlignmentStage, Stage

from ..conftest import TINY_CONFIG

SOURCES = {('optical', 'captioning'): 30, ('optical', 'grounding'): 50,
           ('sar', 'vqa'): 10, ('multispectral', 'classification'): 7,
           ('video', 'choice'): 3}


@pytest.fixture(scope='module')
def mixed_dataset(tmp_path_factory):
    """Validated records of five modality/task sources (images are never read here)."""
    root = tmp_path_factory.mktemp('mixed')
    lines = []
    for (modality, task), n in SOURCES.items():
        for i in range(n):
            lines.append(json.dumps(dict(
                id=f'{modality}-{task}-{i}', task=task, modality=modality,
                images=[dict(path=f'{modality}/{i}.tif')],
                conversations=[{'from': 'human', 'value': 'Q?\n<image>'},
                               {'from': 'assistant', 'value': 'A'}])))
    (root / 'train.jsonl').write_text('\n'.join(lines) + '\n')
    return InstructionDataset(ann_file='train.jsonl', data_root=str(root), lazy_init=False)


def test_source_weights_first_matching_pattern_wins():
    w = source_weights(['optical/captioning', 'optical/grounding', 'sar/vqa'],
                       {'optical/captioning': 3.0, 'optical/*': 1.0})
    assert w == {'optical/captioning': 3.0, 'optical/grounding': 1.0, 'sar/vqa': 0.0}


def test_realised_mixture_matches_the_weights(mixed_dataset):
    weights = {'optical/captioning': 1.0, 'optical/*': 2.0, 'sar/*': 0.5, '*/choice': 0.5}
    sampler = MixtureSampler(mixed_dataset, weights=weights, seed=3)
    assert sampler.probabilities == pytest.approx(
        {'optical/captioning': 0.25, 'optical/grounding': 0.5, 'sar/vqa': 0.125,
         'video/choice': 0.125})
    draws = [mixed_dataset.get_data_info(i) for i, _ in zip(sampler, range(20000))]
    counts = {}
    for info in draws:
        key = f"{info['modality']}/{info['task']}"
        counts[key] = counts.get(key, 0) + 1
    assert 'multispectral/classification' not in counts          # weight 0: never drawn
    for key, p in sampler.probabilities.items():
        # 20000 draws: the binomial std of a frequency is <= 0.0036; allow 4 sigma
        assert abs(counts[key] / 20000 - p) < 0.015, (key, counts[key] / 20000, p)
    # every record of a source is visited evenly (walked in shuffled passes)
    grounding = [d['id'] for d in draws if d['task'] == 'grounding'][:500]
    per_record = np.unique(grounding, return_counts=True)[1]
    assert len(per_record) == 50 and per_record.max() - per_record.min() <= 1


def test_sampler_is_deterministic_and_differs_by_rank(mixed_dataset, monkeypatch):
    a = MixtureSampler(mixed_dataset, seed=1)
    b = MixtureSampler(mixed_dataset, seed=1)
    first = [i for i, _ in zip(a, range(300))]
    assert first == [i for i, _ in zip(b, range(300))]
    assert first != [i for i, _ in zip(MixtureSampler(mixed_dataset, seed=2), range(300))]
    # no weights: every record equally likely -> sources by their size
    assert a.probabilities['optical/grounding'] == pytest.approx(50 / 100)


def test_sampler_error_names_the_sources(mixed_dataset):
    with pytest.raises(ValueError, match=r"no record matches.*optical/captioning"):
        MixtureSampler(mixed_dataset, weights={'thermal/*': 1.0}, seed=0)


def test_stage_arguments_are_checked():
    with pytest.raises(ValueError, match="'modality/task'"):
        Stage(mixture={'optical': 1.0})
    with pytest.raises(ValueError, match='every mixture weight is 0'):
        Stage(mixture={'optical/*': 0})
    with pytest.raises(ValueError, match='folder'):
        Stage(name='a/b')
    with pytest.raises(ValueError, match='iters'):
        Stage(iters=0)
    stage = STAGES.build(dict(type='AlignmentStage', iters=5))
    assert isinstance(stage, AlignmentStage) and stage.name == 'alignment'
    assert stage.trainable == ('aligner.*', 'adapters.*')


def _tiny_model():
    from eov.registry import MODELS
    init_default_scope('eov')
    torch.manual_seed(0)
    return MODELS.build(load_config(TINY_CONFIG).model)


def test_freeze_applies_patterns_and_rejects_typos():
    model = _tiny_model()
    stage = Stage(name='s', trainable=['aligner.*', 'lm.*'], frozen=['lm.model.embed_tokens.*'])
    counts = stage.freeze(model)
    for name, p in model.named_parameters():
        expect = (name.startswith('aligner.') or name.startswith('lm.')) \
            and not name.startswith('lm.model.embed_tokens.')
        assert p.requires_grad == expect, name
    assert counts['trainable'] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match=r"'alinger\.\*' matches no parameter.*aligner"):
        Stage(name='s', trainable=['alinger.*']).freeze(model)
    # a module without parameters (the pass-through rgb adapter) is a valid target
    AlignmentStage().freeze(model)
    assert all(p.requires_grad == n.startswith('aligner.') for n, p in model.named_parameters())


def test_apply_builds_the_stage_run_config():
    cfg = load_config(TINY_CONFIG)
    cfg.stages = [dict(type='Stage')]
    stage = Stage(name='physics', trainable=['aligner.*'], mixture={'sar/*': 1.0}, iters=7,
                  lr=3e-4, lr_mult={'aligner': 10.0}, batch_size=2)
    out = stage.apply(cfg, '/tmp/w/2_physics', '/tmp/w/1_a/stage_final.pth')
    assert isinstance(out, Config) and 'stages' not in out
    assert out.work_dir == '/tmp/w/2_physics' and out.load_from.endswith('stage_final.pth')
    assert out.train_cfg.max_iters == 7 and out.optim_wrapper.optimizer.lr == 3e-4
    assert out.param_scheduler[0].total_steps == 7 and out.param_scheduler[0].eta_max == 3e-4
    assert out.optim_wrapper.paramwise_cfg.custom_keys == {'aligner': {'lr_mult': 10.0}}
    assert out.optim_wrapper.paramwise_cfg.bypass_duplicate is True
    assert out.train_dataloader.sampler == {'type': 'MixtureSampler',
                                            'weights': {'sar/*': 1.0}}
    assert out.train_dataloader.batch_size == 2
    assert out.stage == {'type': 'Stage', 'name': 'physics', 'trainable': ['aligner.*'],
                         'frozen': []}
    assert cfg.train_cfg.max_iters == 3000          # the chain config is left unchanged
    resumed = stage.apply(cfg, '/tmp/w/2_physics', None, resume=True)
    assert resumed.resume is True and resumed.load_from is None


def test_lr_mult_builds_an_optimizer_for_a_model_with_a_tied_head():
    """Per-module LR multipliers on the tiny model (its LM head is tied to the embedding):
    every trainable tensor in exactly one group, the multiplied ones at their LR."""
    from mmengine.optim import build_optim_wrapper

    from eov.registry import MODELS
    cfg = load_config(TINY_CONFIG)
    cfg.stages = [dict(type='Stage')]
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.lm.get_output_embeddings().weight is model.lm.get_input_embeddings().weight
    out = Stage(name='s', lr=1e-3, lr_mult={'aligner': 10.0, 'adapters': 2.0}).apply(
        cfg, '/tmp/w/1_s', None)
    wrapper = build_optim_wrapper(model, out.optim_wrapper)
    seen = [id(p) for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(seen) == len(set(seen)) == len({id(p) for p in model.parameters()})
    lrs = {id(p): g['lr'] for g in wrapper.optimizer.param_groups for p in g['params']}
    for name, p in model.named_parameters():
        expected = 1e-2 if name.startswith('aligner.') else 1e-3
        assert lrs[id(p)] == pytest.approx(expected), name


def test_lr_mult_survives_the_one_cycle_schedule():
    """The stage's schedule keeps each group's multiplier at every step (MMEngine's
    OneCycleLR would give every group the same rate); a schedule that cannot is refused."""
    from mmengine.optim import build_optim_wrapper

    from eov.registry import MODELS, PARAM_SCHEDULERS
    cfg = load_config(TINY_CONFIG)
    cfg.stages = [dict(type='Stage')]
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    out = Stage(name='s', lr=1e-3, iters=20, lr_mult={'aligner': 10.0, 'lm.': 0.5}).apply(
        cfg, '/tmp/w/1_s', None)
    assert out.param_scheduler[0].type == 'OneCycleLRPerGroup'
    wrapper = build_optim_wrapper(model, out.optim_wrapper)
    sched = PARAM_SCHEDULERS.build(dict(out.param_scheduler[0]),
                                   default_args=dict(optimizer=wrapper))
    group_of = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    named = dict(model.named_parameters())
    aligner = group_of[id(named['aligner.mlp.0.weight'])]
    lm = group_of[id(named['lm.model.norm.weight'])]
    plain = group_of[id(next(p for n, p in named.items() if n.startswith('vision.')))]
    peaks = []
    for _ in range(20):
        assert aligner['lr'] == pytest.approx(10.0 * plain['lr'])
        assert lm['lr'] == pytest.approx(0.5 * plain['lr'])
        peaks.append(plain['lr'])
        wrapper.optimizer.step()
        sched.step()
    assert max(peaks) == pytest.approx(1e-3, rel=0.05) and peaks[-1] < 1e-5
    # MMEngine's own OneCycleLR with a stage lr_mult: refused, naming the fix
    cfg.param_scheduler[0].type = 'OneCycleLR'
    with pytest.raises(ValueError, match="lr_mult .* would be lost.*OneCycleLRPerGroup"):
        Stage(name='s', lr_mult={'aligner': 10.0}).apply(cfg, '/tmp/w/1_s', None)
    Stage(name='s').apply(cfg, '/tmp/w/1_s', None)     # without multipliers it is fine
