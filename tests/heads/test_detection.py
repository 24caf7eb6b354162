import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import DetectionHead
from eov.registry import HEADS

LOC = dict(type='LocTokenSerializer', bins=100)
SIZE = (200, 100)
TARGETS = [{'type': 'hbb', 'bbox': [100, 50, 140, 90], 'label': 'ship'},
           {'type': 'hbb', 'bbox': [10, 10, 30, 20], 'label': 'harbor'}]


def test_templates_are_seeded():
    head = HEADS.build(dict(type='detection', serializer=LOC))
    assert {head.question(seed=s) for s in range(60)} == set(DetectionHead.templates)
    assert head.question(seed=4) == head.question(seed=4)
    assert head.question(classes=['ship', 'harbor']) == \
        'Detect all instances of the following classes in this image: ship, harbor.'
    assert {head.question(seed=s, classes='ship') for s in range(60)} == \
        {t.format(classes='ship') for t in DetectionHead.variants['classes']}


def test_answer_holds_every_object_with_its_label_in_reading_order():
    head = DetectionHead(serializer=LOC)
    assert head.answer_text(TARGETS, SIZE) == (
        '<ref>harbor</ref><box><loc_5><loc_10><loc_15><loc_20></box>'
        '<ref>ship</ref><box><loc_50><loc_50><loc_70><loc_90></box>')
    area = DetectionHead(serializer=dict(LOC, order='area'))
    assert area.answer_text(TARGETS, SIZE).startswith('<ref>ship</ref>')


def test_empty_image_is_answered_none():
    head = DetectionHead(serializer=LOC)
    assert head.answer_text([], SIZE) == 'none'
    assert head.parse('none', SIZE) == {'objects': [], 'parsed': True, 'errors': []}
    assert head.parse('There are no objects.', SIZE)['parsed']
    custom = DetectionHead(serializer=LOC, empty_answer='No objects here.')
    assert custom.answer_text([], SIZE) == 'No objects here.'
    assert custom.parse('no objects here', SIZE)['parsed']


@pytest.mark.parametrize('targets, message', [
    ([{'type': 'poly', 'points': [[0, 0], [1, 0], [1, 1]], 'label': 'x'}],
     "targets of type hbb/obb/quad; target 0 has type 'poly'"),
    ([{'type': 'label', 'label': 'ship'}], "target 0 has type 'label'"),
    ([{'type': 'hbb', 'bbox': [0, 0, 1, 1]}], r"target 0 \(hbb\) has no 'label'"),
    ([{'type': 'hbb', 'bbox': [0, 0, 1], 'label': 'x'}], r"object 0: an 'hbb' object needs"),
])
def test_answer_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        DetectionHead(serializer=LOC).answer_text(targets, SIZE)


def test_labels_are_optional_when_the_serializer_writes_none():
    head = DetectionHead(serializer=dict(LOC, with_labels=False))
    assert head.answer_text([{'type': 'hbb', 'bbox': [0, 0, 100, 50]}], SIZE) == \
        '<box><loc_0><loc_0><loc_50><loc_50></box>'


def test_needs_a_serializer():
    with pytest.raises(ValueError, match='the detection head needs a serializer'):
        DetectionHead(serializer=None)


def test_switching_the_serializer_changes_the_answer():
    qwen = DetectionHead(serializer=dict(type='QwenTextSerializer'))
    loc = DetectionHead(serializer=LOC)
    assert qwen.answer_text(TARGETS, SIZE) == (
        '<ref>harbor</ref><box>(50,100),(150,200)</box>'
        '<ref>ship</ref><box>(500,500),(700,900)</box>')
    assert qwen.answer_text(TARGETS, SIZE) != loc.answer_text(TARGETS, SIZE)


def test_parse_messy_and_malformed_text():
    head = DetectionHead(serializer=LOC)
    text = ('Sure! <ref>ship</ref><box><loc_50><loc_50><loc_70><loc_90></box> and '
            '<ref>car</ref><box><loc_1><loc_2></box> <point><loc_3><loc_4></point>')
    out = head.parse(text, SIZE)
    assert out['parsed']
    assert out['objects'] == [{'type': 'hbb', 'bbox': [101.0, 50.5, 141.0, 90.5],
                               'label': 'ship'}]
    assert len(out['errors']) == 2 and "left out a 'point' object" in out['errors'][1]
    assert head.parse('I cannot tell.', SIZE) == {'objects': [], 'parsed': False, 'errors': []}
    assert head.parse(None, SIZE)['parsed'] is False
    assert head.parse('<box><loc_1>', 'not a size')['parsed'] is False


_coord = st.floats(0, 1, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_coord, _coord, _coord, _coord,
                          st.sampled_from(['ship', 'plane', 'storage tank'])), max_size=8),
       st.sampled_from([dict(type='LocTokenSerializer'), dict(type='QwenTextSerializer'),
                        dict(type='NormalizedTextSerializer')]))
def test_round_trip_within_half_a_step(boxes, serializer):
    w, h = 640, 480
    head = DetectionHead(serializer=dict(serializer, order='given'))
    targets = [{'type': 'hbb', 'bbox': [min(a, c) * w, min(b, d) * h, max(a, c) * w,
                                        max(b, d) * h], 'label': label}
               for a, b, c, d, label in boxes]
    out = head.parse(head.answer_text(targets, (w, h)), (w, h))
    assert out['parsed'] and not out['errors']
    assert len(out['objects']) == len(targets)
    grid = head.serializer.grid
    tol = (grid.half_step(w) + 1e-6, grid.half_step(h) + 1e-6)
    for got, want in zip(out['objects'], targets):
        assert got['label'] == want['label']
        for k, (g, t) in enumerate(zip(got['bbox'], want['bbox'])):
            assert abs(g - t) <= tol[k % 2]


def test_oriented_boxes_round_trip():
    head = DetectionHead(serializer=dict(type='LocTokenSerializer'))
    target = [{'type': 'obb', 'obb': [300, 200, 120, 40, 30], 'label': 'ship'}]
    out = head.parse(head.answer_text(target, (640, 480)), (640, 480))
    (obj,) = out['objects']
    assert obj['type'] == 'obb' and obj['label'] == 'ship'
    assert obj['obb'] == pytest.approx([300, 200, 120, 40, 30], abs=1.0)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    for serializer in (LOC, dict(type='GeoChatTextSerializer'),
                       dict(type='NormalizedTextSerializer')):
        out = DetectionHead(serializer=serializer).parse(text, SIZE)
        assert set(out) == {'objects', 'parsed', 'errors'}
