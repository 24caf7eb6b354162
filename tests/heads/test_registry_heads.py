"""The head registry is the task list: every registered head meets the task contract."""
import json
import os
import subprocess
import sys

import pytest

from eov.heads import BaseTaskHead
from eov.heads.catalog import BUILTIN_TASKS, task_names
from eov.registry import HEADS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SER = dict(type='LocTokenSerializer', bins=100)
BOX = {'type': 'hbb', 'bbox': [10, 20, 30, 40], 'label': 'ship'}
#: One record's targets per built-in task (a head without an entry is checked by its
#: structure only), and the truth answer BuildConversation makes from them with bins=10.
CASES = {
    'classification': ([{'type': 'labels', 'labels': ['forest', 'river']}], 'forest, river'),
    'captioning': ([{'type': 'text', 'text': 'A port.'}], 'A port.'),
    'vqa': ([{'type': 'count', 'count': 4}], '4'),
    'grounding': ([BOX], '<box><loc_1><loc_2><loc_3><loc_4></box>'),
    'detection': ([BOX], '<ref>ship</ref><box><loc_1><loc_2><loc_3><loc_4></box>'),
    'region': ([dict(BOX, role='input'), {'type': 'label', 'label': 'ship'}], 'ship'),
    'segmentation': ([], 'none'),
    'change': ([], 'no change'),
    'choice': ([{'type': 'choice', 'choices': ['x', 'y'], 'answer': 'y'}], 'B'),
}


def test_list_plugins_lists_every_registered_head():
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'list_plugins.py'),
                          '--json'], capture_output=True, text=True, check=True, cwd=ROOT)
    heads = json.loads(out.stdout)['HEADS']
    # (this process may hold more: a test that imported a third-party task)
    assert heads == sorted(heads) and set(BUILTIN_TASKS) <= set(heads) <= set(task_names())


@pytest.mark.parametrize('task', task_names())
def test_each_head_provides_the_task_contract(task):
    cls = HEADS.get(task)
    assert issubclass(cls, BaseTaskHead) and cls.task == task
    # scorer, verdicts and chance are the head's own
    for method in ('score', 'verdicts'):
        assert getattr(cls, method) is not getattr(BaseTaskHead, method), (task, method)
    assert (cls.chance_answers is not BaseTaskHead.chance_answers
            or cls.chance is not BaseTaskHead.chance), task
    # a primary metric for the plain cell and for every kind
    assert isinstance(cls.primary_metrics.get(None), str), task
    assert all(isinstance(m, str) and m for m in cls.primary_metrics.values())
    assert all(kind is None or (isinstance(kind, str) and '/' not in kind)
               for kind in cls.primary_metrics)
    assert isinstance(cls.lower_is_better_metrics, frozenset)
    assert cls.record_kind([]) in cls.primary_metrics


@pytest.mark.parametrize('task', task_names())
def test_each_head_is_built_with_the_pipeline_serializer(task):
    # BuildConversation builds every head with the configured serializer
    head = HEADS.build(dict(type=task), default_args=dict(
        serializer=dict(type='LocTokenSerializer', bins=32)))
    assert head.task == task
    assert head.templates and head.question(seed=0, question='q', phrase='p', region='r',
                                            choices=['x', 'y']) is not None
    assert isinstance(head.parse('anything at all <box><loc_1>', (64, 64)), dict)


@pytest.mark.parametrize('task', sorted(CASES))
def test_each_head_scores_judges_and_gives_chance_for_its_truth(task):
    head = HEADS.build(dict(type=task, serializer=SER))
    targets, _ = CASES[task]
    size = (100, 100)
    row = dict(targets=targets, image_size=list(size),
               prediction=head.answer_text(targets, size))
    kind = head.record_kind(targets)
    primary = head.primary_metric(kind)
    metrics = head.score([row])
    assert primary in metrics and 'parse_rate' in metrics
    verdict, = head.verdicts([row])
    assert verdict['correct'] is True, (task, verdict)
    chance = head.chance([row], lambda m: primary)
    assert primary in chance
    if type(head).chance is BaseTaskHead.chance:   # constant answers, scored as answers
        assert all(len(texts) == 1 and isinstance(texts[0], str)
                   for texts in head.chance_answers([row]))
    stat = head.record_stat(primary, [row])
    assert stat is None or len(stat) == 1


def test_build_conversation_fills_every_task_from_its_head():
    from eov.datasets.transforms import BuildConversation
    serializer = dict(type='LocTokenSerializer', bins=10)
    transform = BuildConversation(heads=[dict(type=t) for t in BUILTIN_TASKS],
                                  serializer=serializer)
    for task, (targets, answer) in CASES.items():
        out = transform.transform({
            'task': task, 'targets': targets, 'image_size': (100, 100),
            'conversations': [{'from': 'human', 'value': '<image>\nq'},
                              {'from': 'assistant', 'value': None}]})
        assert out['messages'][1] == ('assistant', answer), task
