"""Every task category has a head; all are listed and built the same way."""
import json
import os
import subprocess
import sys

import pytest

from eov.datasets.schema import TASKS
from eov.registry import HEADS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_list_plugins_lists_the_nine_heads():
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'list_plugins.py'),
                          '--json'], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout)['HEADS'] == sorted(TASKS)


@pytest.mark.parametrize('task', TASKS)
def test_each_head_is_built_with_the_pipeline_serializer(task):
    # BuildConversation builds every head with the configured serializer
    head = HEADS.build(dict(type=task), default_args=dict(
        serializer=dict(type='LocTokenSerializer', bins=32)))
    assert head.task == task
    assert head.templates and head.question(seed=0, question='q', phrase='p', region='r',
                                            choices=['x', 'y']) is not None
    assert isinstance(head.parse('anything at all <box><loc_1>', (64, 64)), dict)


def test_build_conversation_fills_every_task_from_its_head():
    from eov.datasets.transforms import BuildConversation
    serializer = dict(type='LocTokenSerializer', bins=10)
    transform = BuildConversation(heads=[dict(type=t) for t in TASKS], serializer=serializer)
    box = {'type': 'hbb', 'bbox': [10, 20, 30, 40], 'label': 'ship'}
    cases = {
        'classification': ([{'type': 'labels', 'labels': ['forest', 'river']}], 'forest, river'),
        'captioning': ([{'type': 'text', 'text': 'A port.'}], 'A port.'),
        'vqa': ([{'type': 'count', 'count': 4}], '4'),
        'grounding': ([box], '<box><loc_1><loc_2><loc_3><loc_4></box>'),
        'detection': ([box], '<ref>ship</ref><box><loc_1><loc_2><loc_3><loc_4></box>'),
        'region': ([dict(box, role='input'), {'type': 'label', 'label': 'ship'}], 'ship'),
        'segmentation': ([], 'none'),
        'change': ([], 'no change'),
        'choice': ([{'type': 'choice', 'choices': ['x', 'y'], 'answer': 'y'}], 'B'),
    }
    for task, (targets, answer) in cases.items():
        out = transform.transform({
            'task': task, 'targets': targets, 'image_size': (100, 100),
            'conversations': [{'from': 'human', 'value': '<image>\nq'},
                              {'from': 'assistant', 'value': None}]})
        assert out['messages'][1] == ('assistant', answer), task
