"""eov.heads.catalog: the task list, cells and primary metrics come from the registered heads."""
import pytest

from eov.heads import BaseTaskHead
from eov.heads.base import better, most_frequent, norm_answer
from eov.heads.catalog import (BUILTIN_TASKS, cell_of, find_head, lower_is_better,
                               primary_metric, primary_metrics, record_kind, task_names)
from eov.registry import HEADS

#: The built-in cells and their headline metrics (as before tasks became plugins).
BUILTIN_PRIMARY = {
    'classification': 'accuracy', 'classification/multilabel': 'sample_f1',
    'captioning': 'CIDEr', 'vqa': 'accuracy', 'vqa/count': 'count_exact',
    'grounding': 'Acc@0.5', 'grounding/obb': 'Acc@0.5', 'detection': 'mAP@0.5',
    'region': 'accuracy', 'region/caption': 'CIDEr', 'segmentation': 'mIoU',
    'change': 'f1', 'change/caption': 'CIDEr', 'choice': 'accuracy',
}


@pytest.fixture
def toy_task():
    """A head registered for the test only (as a third-party package would)."""
    @HEADS.register_module(name='toy_count')
    class ToyHead(BaseTaskHead):
        task = 'toy_count'
        primary_metrics = {None: 'hits', 'big': 'error'}
        lower_is_better_metrics = frozenset({'error'})

        @classmethod
        def record_kind(cls, targets):
            return 'big' if any(t.get('count', 0) > 9 for t in targets) else None
    yield ToyHead
    HEADS._module_dict.pop('toy_count')


def test_builtin_cells_keep_their_primary_metrics():
    assert {k: v for k, v in primary_metrics().items()
            if k.split('/')[0] in BUILTIN_TASKS} == BUILTIN_PRIMARY
    assert task_names()[:len(BUILTIN_TASKS)] == list(BUILTIN_TASKS)
    assert lower_is_better('count_mae', 'vqa/count') and lower_is_better('count_mae')
    assert not lower_is_better('count_exact', 'vqa/count')


@pytest.mark.parametrize('task, targets, cell', [
    ('classification', [{'type': 'labels', 'labels': ['a']}], 'classification/multilabel'),
    ('classification', [{'type': 'label', 'label': 'a'}] * 2, 'classification/multilabel'),
    ('classification', [{'type': 'label', 'label': 'a'}], 'classification'),
    ('vqa', [{'type': 'count', 'count': 2}], 'vqa/count'),
    ('grounding', [{'type': 'quad', 'points': [[0, 0]] * 4}], 'grounding/obb'),
    ('grounding', [{'type': 'hbb', 'bbox': [0, 0, 1, 1]}], 'grounding'),
    ('region', [{'type': 'hbb', 'bbox': [0, 0, 1, 1]}, {'type': 'text', 'text': 'x'}],
     'region/caption'),
    ('change', [{'type': 'text', 'text': 'x'}], 'change/caption'),
    ('change', [], 'change'),
    ('detection', [], 'detection'),
])
def test_cell_of_asks_the_head(task, targets, cell):
    assert cell_of(dict(task=task, targets=targets)) == cell
    assert cell_of(dict(task=task, targets=targets, meta=dict(variant='v'))) == f'{task}/v'


def test_a_registered_head_is_a_task(toy_task):
    assert find_head('toy_count') is toy_task and 'toy_count' in task_names()
    assert task_names().index('toy_count') >= len(BUILTIN_TASKS)   # after the built-ins
    assert cell_of(dict(task='toy_count', targets=[{'type': 'count', 'count': 12}])) == \
        'toy_count/big'
    assert primary_metric('toy_count/big/cloud') == 'error'
    assert primary_metric('toy_count', ['error']) == 'error'   # the task's other entries
    assert lower_is_better('error', 'toy_count/big') and not lower_is_better('error', 'vqa')
    from eov.datasets.schema import validate_record
    record = dict(id='t', task='toy_count', modality='optical', images=[{'path': 'a.png'}],
                  conversations=[{'from': 'human', 'value': '<image>\nq'},
                                 {'from': 'assistant', 'value': 'x'}])
    assert validate_record(record, 'toy.jsonl:1') is record


def test_unknown_task_is_no_head():
    assert find_head('weather') is None and find_head(None) is None
    assert record_kind('weather', []) is None
    assert cell_of(dict(task='weather', targets=[])) == 'weather'


def test_scoring_helpers():
    assert norm_answer('  A  Harbour. ') == 'a harbour' and norm_answer(None) == ''
    assert most_frequent([('b', 1), ('a', 2), ('b', 3), ('a', 4)]) == 2   # tie: smallest key
    assert most_frequent([]) is None
    assert better(1.0, float('nan')) and not better(float('nan'), 1.0)
    assert better(1.0, 2.0, lower_is_better=True) and not better(1.0, 2.0)
