import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eov.slis import DecodeResult, LocTokenSerializer


def test_encode_known_box():
    s = LocTokenSerializer(bins=32)
    text = s.encode([{'type': 'hbb', 'bbox': [0, 8, 33, 64]}], image_size=(64, 64))
    # 0/64*32=0, 8/64*32=4, 33/64*32=16.5->16, 64/64*32=32 -> clamped to 31
    assert text == '<box><loc_0><loc_4><loc_16><loc_31></box>'


def test_decode_returns_bin_centres():
    s = LocTokenSerializer(bins=32)
    res = s.decode('<box><loc_0><loc_4><loc_16><loc_31></box>', image_size=(64, 128))
    assert res.errors == []
    assert res.objects == [{'type': 'hbb', 'bbox': [1.0, 18.0, 33.0, 126.0]}]


def test_non_square_axes_use_their_own_extent():
    s = LocTokenSerializer(bins=10)
    text = s.encode([{'type': 'hbb', 'bbox': [50, 50, 99, 99]}], image_size=(100, 200))
    assert text == '<box><loc_5><loc_2><loc_9><loc_4></box>'


def test_ref_phrase_round_trip():
    s = LocTokenSerializer(bins=100)
    obj = {'type': 'hbb', 'bbox': [10, 10, 20, 20], 'label': 'red circle'}
    text = s.encode([obj], image_size=(100, 100))
    assert text.startswith('<ref>red circle</ref><box>')
    assert s.decode(text, (100, 100)).objects[0]['label'] == 'red circle'


@given(st.integers(2, 2000), st.integers(1, 4096), st.integers(1, 4096), st.data())
@settings(max_examples=200, deadline=None)
def test_round_trip_within_half_a_bin(bins, width, height, data):
    s = LocTokenSerializer(bins=bins)
    xs = sorted(data.draw(st.lists(st.floats(0, width), min_size=2, max_size=2)))
    ys = sorted(data.draw(st.lists(st.floats(0, height), min_size=2, max_size=2)))
    box = [xs[0], ys[0], xs[1], ys[1]]
    res = s.decode(s.encode([{'type': 'hbb', 'bbox': box}], (width, height)), (width, height))
    assert res.errors == [] and len(res.objects) == 1
    got = res.objects[0]['bbox']
    for v, g, ext in zip(box, got, (width, height, width, height)):
        # half a bin, plus the last bin which absorbs v == extent
        assert abs(v - g) <= ext / bins / 2 + 1e-6 * ext or v == ext


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_decode_never_raises_on_arbitrary_text(text):
    res = LocTokenSerializer(bins=50).decode(text, (64, 64))
    assert isinstance(res, DecodeResult)


@pytest.mark.parametrize('text, n_objects, n_errors', [
    ('', 0, 0),
    ('<box><loc_1><loc_2><loc_3>', 0, 1),                       # truncated
    ('<box><loc_1><loc_2><loc_3><loc_4></box>', 1, 0),
    ('<box><loc_1><loc_2><loc_3><loc_99></box>', 0, 1),         # out of range (bins=32)
    ('<box><loc_1><loc_2><box><loc_1><loc_2><loc_3><loc_4></box>', 1, 1),  # nested/broken
    ('<box><loc_1><loc_2><loc_3><loc_4>', 1, 0),                # missing closer
    ('<box><loc_1><loc_2><loc_3><loc_4></box><box></box>', 1, 1),
])
def test_decode_reports_what_did_not_parse(text, n_objects, n_errors):
    res = LocTokenSerializer(bins=32).decode(text, (64, 64))
    assert len(res.objects) == n_objects
    assert len(res.errors) == n_errors


def test_labels_can_be_switched_off():
    obj = {'type': 'hbb', 'bbox': [10, 10, 20, 20], 'label': 'red circle'}
    assert '<ref>' not in LocTokenSerializer(bins=100, with_labels=False).encode([obj], (100, 100))


def test_sep_splits_a_multi_part_polygon():
    text = '<poly><loc_0><loc_0><loc_5><loc_0><loc_5><loc_5><sep><loc_6><loc_6><loc_9><loc_6><loc_9><loc_9></poly>'
    res = LocTokenSerializer(bins=10).decode(text, (10, 10))
    assert res.errors == [] and [o['type'] for o in res] == ['poly', 'poly']
    assert res[1]['points'][0] == [6.5, 6.5]


def test_decode_swapped_corners_gives_ordered_box():
    res = LocTokenSerializer(bins=10).decode('<box><loc_8><loc_7><loc_2><loc_1></box>', (10, 10))
    assert res.objects[0]['bbox'] == [2.5, 1.5, 8.5, 7.5]


def test_special_tokens_and_validation():
    s = LocTokenSerializer(bins=4)
    assert s.special_tokens() == ['<box>', '</box>', '<quad>', '</quad>', '<poly>', '</poly>',
                                  '<point>', '</point>', '<ref>', '</ref>', '<sep>',
                                  '<loc_0>', '<loc_1>', '<loc_2>', '<loc_3>']
    with pytest.raises(ValueError, match='bins'):
        LocTokenSerializer(bins=1)
    with pytest.raises(ValueError, match="object 0: a 'poly' object needs at least 3"):
        s.encode([{'type': 'poly', 'points': [[0, 0], [1, 0]]}], (4, 4))
    with pytest.raises(ValueError, match="'mask' is not one of"):
        s.encode([{'type': 'mask'}], (4, 4))
    with pytest.raises(ValueError, match='finite'):
        s.encode([{'type': 'hbb', 'bbox': [0, float('nan'), 1, 1]}], (4, 4))
