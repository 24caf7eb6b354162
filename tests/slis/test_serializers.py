"""Every serializer x every geometry type: round trips, ordering, robust decoding."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eov.registry import SERIALIZERS
from eov.slis import (DecodeResult, GeoChatTextSerializer, LocTokenSerializer,
                      NormalizedTextSerializer, QwenTextSerializer, normalize_obb, obb_to_quad,
                      sort_objects)

NAMES = ['LocTokenSerializer', 'GeoChatTextSerializer', 'NormalizedTextSerializer',
         'QwenTextSerializer']
# Geometry types each format writes as corners (a quad goes through exactly).
CORNER_FORMATS = ['LocTokenSerializer', 'NormalizedTextSerializer', 'QwenTextSerializer']


def make(name, **kwargs):
    return SERIALIZERS.build(dict(type=name, **kwargs))


def half_steps(s, width, height):
    """Round-trip tolerance per axis: half a grid step, plus float slack."""
    return (s.grid.half_step(width) * (1 + 1e-9) + 1e-9,
            s.grid.half_step(height) * (1 + 1e-9) + 1e-9)


def close_points(got, want, tx, ty):
    return len(got) == len(want) and all(
        abs(g[0] - w[0]) <= tx and abs(g[1] - w[1]) <= ty for g, w in zip(got, want))


# -- strategies ---------------------------------------------------------------
sizes = st.tuples(st.integers(8, 4096), st.integers(8, 4096))
labels = st.one_of(st.none(), st.text('abcdefghij -', min_size=1, max_size=12)
                   .map(str.strip).filter(bool))


def coord(extent):
    # include the borders themselves: boxes touching the image edge
    return st.one_of(st.floats(0, extent), st.sampled_from([0.0, float(extent)]))


@st.composite
def hbb(draw, size):
    w, h = size
    xs = sorted([draw(coord(w)), draw(coord(w))])
    ys = sorted([draw(coord(h)), draw(coord(h))])
    if draw(st.booleans()):  # degenerate boxes
        xs[1] = xs[0]
    return {'type': 'hbb', 'bbox': [xs[0], ys[0], xs[1], ys[1]]}


angles = st.one_of(st.floats(-90, 90, exclude_max=True),
                   st.sampled_from([-90.0, 89.999, -89.999, 0.0, 45.0, 90.0]))


@st.composite
def obb(draw, size):
    """An oriented box whose corners lie inside the image."""
    w, h = size
    cx, cy = draw(st.floats(0, w)), draw(st.floats(0, h))
    reach = min(cx, w - cx, cy, h - cy)   # corners within this radius stay inside
    diag = 2 * reach * draw(st.floats(0, 1))
    t = draw(st.floats(0, math.pi / 4))   # long side >= short side
    a = draw(angles)
    o = {'type': 'obb', 'obb': [cx, cy, diag * math.cos(t), diag * math.sin(t), a]}
    pts = obb_to_quad(o['obb'])
    if not all(-1e-9 <= x <= w + 1e-9 and -1e-9 <= y <= h + 1e-9 for x, y in pts):
        o['obb'][2:4] = [0.0, 0.0]
    return o


@st.composite
def quad(draw, size):
    return {'type': 'quad', 'points': obb_to_quad(draw(obb(size))['obb'])}


@st.composite
def poly(draw, size):
    w, h = size
    n = draw(st.integers(3, 12))
    return {'type': 'poly', 'points': [[draw(coord(w)), draw(coord(h))] for _ in range(n)]}


@st.composite
def point(draw, size):
    w, h = size
    return {'type': 'point', 'point': [draw(coord(w)), draw(coord(h))]}


GEOMETRY = {'hbb': hbb, 'obb': obb, 'quad': quad, 'poly': poly, 'point': point}


@st.composite
def labelled(draw, kind, size):
    obj = draw(GEOMETRY[kind](size))
    label = draw(labels)
    if label:
        obj['label'] = label
    return obj


# -- round trips --------------------------------------------------------------
def assert_round_trip(s, name, kind, obj, got, width, height):
    tx, ty = half_steps(s, width, height)
    assert got.get('label') == obj.get('label')
    if kind == 'hbb':
        assert got['type'] == 'hbb'
        assert close_points([got['bbox'][:2], got['bbox'][2:]],
                            [obj['bbox'][:2], obj['bbox'][2:]], tx, ty)
    elif kind == 'point':
        assert got['type'] == 'point' and close_points([got['point']], [obj['point']], tx, ty)
    elif kind == 'poly':
        assert got['type'] == 'poly' and close_points(got['points'], obj['points'], tx, ty)
    elif name in CORNER_FORMATS:
        # the format writes corners: each comes back within half a step
        assert got['type'] == 'quad'
        want = obj['points'] if kind == 'quad' else obb_to_quad(normalize_obb(obj['obb']))
        assert close_points(got['points'], want, tx, ty)
    else:
        # GeoChat writes centre/size/angle: each within half a step (angle: half a degree)
        assert got['type'] == 'obb'
        from eov.slis import quad_to_obb
        want = normalize_obb(obj['obb']) if kind == 'obb' else quad_to_obb(obj['points'])
        assert_obb_close(got['obb'], want, tx, ty)


def assert_obb_close(got, want, tx, ty):
    cx, cy, w, h, a = want
    gx, gy, gw, gh, ga = got
    assert abs(gx - cx) <= tx and abs(gy - cy) <= ty
    # near-square boxes may come back with sides swapped and the angle turned by 90°
    options = [(w, h, a), (h, w, a + 90)]
    tol_side = max(tx, ty)
    ok = False
    for ow, oh, oa in options:
        diff = abs((ga - oa + 90) % 180 - 90)
        if abs(gw - ow) <= tol_side and abs(gh - oh) <= tol_side and \
                (diff <= 0.5 + 1e-6 or max(ow, oh) < 1e-6 or abs(ow - oh) <= 2 * tol_side):
            ok = True
    assert ok, (got, want)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('kind', list(GEOMETRY))
@given(data=st.data(), size=sizes)
@settings(max_examples=60, deadline=None)
def test_round_trip_within_half_a_step(name, kind, data, size):
    width, height = size
    s = make(name, oriented_as='quad' if name in CORNER_FORMATS else 'obb')
    obj = data.draw(labelled(kind, size))
    res = s.decode(s.encode([obj], size), size)
    assert res.errors == [] and len(res) == 1, (s.encode([obj], size), res)
    assert_round_trip(s, name, kind, obj, res[0], width, height)


@pytest.mark.parametrize('name', CORNER_FORMATS)
@given(data=st.data(), size=sizes)
@settings(max_examples=60, deadline=None)
def test_obb_fitted_from_corners_stays_close(name, data, size):
    s = make(name)  # oriented_as='obb': the box is fitted to the decoded corners
    obj = data.draw(obb(size))
    got = s.decode(s.encode([obj], size), size)[0]
    assert got['type'] == 'obb'
    step = 2 * max(half_steps(s, *size))
    # every fitted corner within a few grid steps of the true corner (any start corner)
    want, pts = obb_to_quad(normalize_obb(obj['obb'])), obb_to_quad(got['obb'])
    best = min(max(math.dist(pts[(i + k) % 4], want[i]) for i in range(4)) for k in range(4))
    assert best <= 4 * step


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('order', ['reading', 'area'])
@given(data=st.data(), size=sizes)
@settings(max_examples=40, deadline=None)
def test_many_objects_come_back_in_the_configured_order(name, order, data, size):
    s = make(name, order=order, oriented_as='quad' if name in CORNER_FORMATS else 'obb')
    kinds = data.draw(st.lists(st.sampled_from(list(GEOMETRY)), min_size=2, max_size=25))
    objs = [data.draw(labelled(k, size)) for k in kinds]
    text = s.encode(objs, size)
    res = s.decode(text, size)
    assert res.errors == [] and len(res) == len(objs)
    from eov.slis import check_object
    for want, got in zip(sort_objects([check_object(o) for o in objs], order), res):
        assert_round_trip(s, name, want['type'], want, got, *size)


def test_order_is_deterministic_and_configurable():
    a = {'type': 'hbb', 'bbox': [50, 0, 60, 5]}       # top right, small
    b = {'type': 'hbb', 'bbox': [0, 40, 40, 80]}      # lower left, large
    c = {'type': 'point', 'point': [5, 0]}            # top left
    s = LocTokenSerializer(bins=100)
    assert s.encode([b, a, c], (100, 100)) == s.encode([c, b, a], (100, 100))
    assert [o['type'] for o in s.decode(s.encode([b, a, c], (100, 100)), (100, 100))] == \
        ['point', 'hbb', 'hbb']
    by_area = LocTokenSerializer(bins=100, order='area')
    first = by_area.decode(by_area.encode([a, c, b], (100, 100)), (100, 100))[0]
    assert first['bbox'][3] > 70                     # the large box first
    given_order = LocTokenSerializer(bins=100, order='given')
    assert given_order.decode(given_order.encode([b, a], (100, 100)), (100, 100))[0]['bbox'][1] > 30


# -- exact formats --------------------------------------------------------------
@pytest.mark.parametrize('name, text', [
    ('LocTokenSerializer', '<ref>ship</ref><box><loc_100><loc_200><loc_300><loc_400></box>'),
    ('GeoChatTextSerializer', '<p>ship</p>{<10><20><30><40>}'),
    ('NormalizedTextSerializer', '<ref>ship</ref>[0.100, 0.200, 0.300, 0.400]'),
    ('QwenTextSerializer', '<ref>ship</ref><box>(100,200),(300,400)</box>'),
])
def test_hbb_written_as_the_papers_write_it(name, text):
    obj = {'type': 'hbb', 'bbox': [100, 200, 300, 400], 'label': 'ship'}
    assert make(name).encode([obj], (1000, 1000)) == text


def test_geochat_oriented_box_and_minigpt_plain_box():
    s = GeoChatTextSerializer()
    o = {'type': 'obb', 'obb': [500, 500, 200, 100, 30]}
    assert s.encode([o], (1000, 1000)) == '{<40><45><60><55>|<30>}'
    assert s.decode('{<40><45><60><55>|<30>}', (1000, 1000))[0]['obb'] == [500, 500, 200, 100, 30]
    # an angle of 90 is the same box as -90 (long-side form wraps to [-90, 90))
    assert s.decode('{<40><45><60><55>|<90>}', (1000, 1000))[0]['obb'][4] == -90


def test_normalized_precision_and_polygon_nesting():
    s = NormalizedTextSerializer(precision=2)
    tri = {'type': 'poly', 'points': [[0, 0], [50, 0], [50, 25]]}
    assert s.encode([tri], (100, 100)) == '[[0.00, 0.00], [0.50, 0.00], [0.50, 0.25]]'
    with pytest.raises(ValueError, match='precision'):
        NormalizedTextSerializer(precision=0)


def test_special_tokens():
    assert make('GeoChatTextSerializer').special_tokens() == []
    assert make('NormalizedTextSerializer').special_tokens() == []
    assert '<box>' in make('QwenTextSerializer').special_tokens()
    loc = LocTokenSerializer(bins=1000).special_tokens()
    assert '<loc_999>' in loc and '<loc_1000>' not in loc and len(loc) == 1000 + 11


def test_labels_with_markup_are_refused():
    with pytest.raises(ValueError, match='markup'):
        QwenTextSerializer().encode([{'type': 'point', 'point': [1, 1], 'label': 'a</ref>'}],
                                    (10, 10))


# -- robust decoding ------------------------------------------------------------
FRAGMENTS = ['<box>', '</box>', '<quad>', '</quad>', '<poly>', '</poly>', '<point>', '</point>',
             '<sep>', '<ref>', '</ref>', '<p>', '</p>', '<loc_0>', '<loc_5>', '<loc_999999>',
             '<loc_-1>', '<loc_', '{', '}', '|', '<12>', '<-3>', '<100>', '<101>', '<9999>',
             '[', ']', '0.5', '1.5', '-0.2', ', ', '(1,2)', '(1000,1000)', '(1001,3)', '(',
             '1e309', 'nan', ' ', 'plane', '\u00e9\u4e2d', '\x00']


@pytest.mark.parametrize('name', NAMES)
@given(text=st.one_of(st.text(max_size=200),
                      st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(''.join)))
@settings(max_examples=300, deadline=None)
def test_decode_never_raises(name, text):
    res = make(name).decode(text, (640, 480))
    assert isinstance(res, DecodeResult)
    assert all(o['type'] in ('hbb', 'obb', 'quad', 'poly', 'point') for o in res)
    assert 0.0 <= res.parse_rate <= 1.0


@pytest.mark.parametrize('name', NAMES)
def test_every_truncation_of_a_valid_answer_decodes(name):
    s = make(name)
    objs = [{'type': 'hbb', 'bbox': [10, 10, 50, 60], 'label': 'a'},
            {'type': 'obb', 'obb': [200, 200, 80, 20, 15]},
            {'type': 'poly', 'points': [[300, 300], [350, 310], [320, 360]]},
            {'type': 'point', 'point': [400, 100]}]
    text = s.encode(objs, (640, 480))
    counts = [len(s.decode(text[:i], (640, 480))) for i in range(len(text) + 1)]
    assert counts[0] == 0 and counts[-1] == 4
    assert max(counts) == 4


@pytest.mark.parametrize('name, text, n_objects, n_errors', [
    ('GeoChatTextSerializer', '{<10><20><30>}', 0, 1),                  # odd count
    ('GeoChatTextSerializer', '{<10><20><30><140>}', 0, 1),             # outside 0..100
    ('GeoChatTextSerializer', '{<10><20><30><40>|<120>}', 0, 1),        # bad angle
    ('GeoChatTextSerializer', '{<10><20><30><40>', 1, 0),               # missing closer
    ('GeoChatTextSerializer', '{{<10><20><30><40>}', 1, 1),             # nested opener
    ('NormalizedTextSerializer', '[0.1, 0.2, 0.3]', 0, 1),
    ('NormalizedTextSerializer', '[0.1, 0.2, 1.3, 0.4]', 0, 1),
    ('NormalizedTextSerializer', '[0.1, 0.2, 0.3, 0.4', 1, 0),
    ('NormalizedTextSerializer', '[[0.1, 0.2], [0.3, 0.4]]', 0, 1),    # 2-vertex polygon
    ('QwenTextSerializer', '<box>(1,2)</box>', 0, 1),
    ('QwenTextSerializer', '<box>(1,2),(3,1200)</box>', 0, 1),
    ('QwenTextSerializer', '<box>(1,2),(3,4)<box>(5,6),(7,8)</box>', 2, 0),
    ('LocTokenSerializer', '<quad><loc_1><loc_2></quad>', 0, 1),
    ('LocTokenSerializer', '<point><loc_1></point><point><loc_1><loc_2></point>', 1, 1),
])
def test_decode_reports_what_did_not_parse(name, text, n_objects, n_errors):
    res = make(name).decode(text, (100, 100))
    assert (len(res), len(res.errors)) == (n_objects, n_errors), res


def test_decode_of_non_text_and_bad_sizes_reports_instead_of_raising():
    s = QwenTextSerializer()
    assert s.decode(None, (10, 10)).errors == ['expected text, got NoneType']
    assert 'image_size' in s.decode('<box>(1,2),(3,4)</box>', (0, 10)).errors[0]
    with pytest.raises(ValueError, match='image_size'):
        s.encode([], (10, -1))


def test_decode_result_is_a_list_with_errors():
    res = LocTokenSerializer(bins=10).decode('<box><loc_1><loc_1><loc_2><loc_2></box><box>', (10, 10))
    assert isinstance(res, list) and res.objects is res and len(res) == 1
    assert res.parse_rate == 0.5 and not res.ok
