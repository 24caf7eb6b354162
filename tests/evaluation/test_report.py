"""The work-dir report: report.md, loss curves and test examples, from real files."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from eov.datasets.synth import SynthConfig, generate
from eov.evaluation.metrics import TaskMetric
from eov.evaluation.report import (beats_chance, chance_margin, plot_predictions,
                                   plot_scoreboard, read_stage_losses, saved_config, write_report)
from eov.registry import HEADS
from eov.slis.geometry import box_iou, object_bounds

from ..conftest import ROOT
from ..helpers import load_tool

#: The serializer and modalities of the tiny demo (64-px images): the config the fixture's
#: run "saved" in its work dir.
SERIALIZER = dict(type='LocTokenSerializer', bins=32)
MODALITIES = dict(
    optical=dict(type='optical', image_size=64),
    sar=dict(type='sar', sensor='sentinel1_grd', units='linear', image_size=64),
    infrared=dict(type='infrared', sensor='thermal', image_size=64),
    multispectral=dict(type='multispectral', sensor='sentinel2_l2a', image_size=64),
    temporal=dict(type='temporal', num_frames=4, image_size=64),
    video=dict(type='video', num_frames=4, image_size=64),
    fusion=dict(type='fusion', image_size=64,
                members=dict(optical=dict(type='optical'),
                             sar=dict(type='sar', sensor='sentinel1_grd', units='linear'))),
)
S2_L2A = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B11', 'B12')


def _tif(path, data):
    import rasterio
    from rasterio.transform import Affine
    c, h, w = data.shape
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with rasterio.open(path, 'w', driver='GTiff', width=w, height=h, count=c,
                       dtype=data.dtype.name, crs='EPSG:32631',
                       transform=Affine(10.0, 0.0, 300000.0, 0.0, -10.0, 5000000.0)) as dst:
        dst.write(data)


def _record(rid, task, modality, images, question, targets):
    return dict(id=rid, task=task, modality=modality, images=images,
                conversations=[{'from': 'human', 'value': f'{question}\n<image>'},
                               {'from': 'assistant', 'value': None}],
                targets=targets)


def _scalars(stage_dir, stamp, rows, tail=''):
    path = os.path.join(stage_dir, stamp, 'vis_data', 'scalars.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(json.dumps(r) + '\n' for r in rows) + tail)


def _train_rows(steps, loss0, acc0, tag=0):
    return [dict(lr=1e-3, data_time=0.01, loss=loss0 * 0.97 ** s,
                 token_acc=min(1.0, acc0 + s / 400), time=0.1, iter=s, memory=0, step=s,
                 run=tag) for s in steps]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """A tested PCMA work dir and its test data (optical, SAR, MS, IR, temporal, fusion)."""
    root = str(tmp_path_factory.mktemp('data'))
    generate(root, {'test': 3}, seed=0, cfg=SynthConfig(image_format='tif'), progress=False)
    with open(os.path.join(root, 'test.jsonl')) as f:
        records = [json.loads(line) for line in f]
    rng = np.random.default_rng(0)
    # SAR: 2-band float32 linear power, a bright field in speckle
    sar = (rng.gamma(4.0, 0.01 / 4.0, size=(2, 64, 64))).astype(np.float32)
    sar[:, 20:40, 8:30] *= 30
    _tif(os.path.join(root, 'sar', 's1.tif'), sar)
    records.append(_record('sar-0', 'grounding', 'sar',
                           [dict(path='sar/s1.tif', sensor='sentinel1_grd')],
                           'Where is the bright field?',
                           [dict(type='hbb', bbox=[8.0, 20.0, 30.0, 40.0], label='field')]))
    # multispectral: 12-band uint16, Sentinel-2 L2A order; a lake (dark NIR) and vegetation
    yy, xx = np.mgrid[0:64, 0:64]
    texture = 0.6 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 11.0)   # fields of varying vigour
    ms = np.empty((12, 64, 64), np.uint16)
    for b, name in enumerate(S2_L2A):
        ms[b] = (3500 * texture + 500) if name in ('B07', 'B08', 'B8A') else \
            (900 - 400 * texture)
    ms[:, 10:30, 30:60] = 250                                       # a lake
    ms[S2_L2A.index('B02'), 10:30, 30:60] = 700
    ms += rng.integers(0, 60, size=ms.shape).astype(np.uint16)
    _tif(os.path.join(root, 'ms', 's2.tif'), ms)
    records.append(_record('ms-0', 'classification', 'multispectral',
                           [dict(path='ms/s2.tif', sensor='sentinel2_l2a')],
                           'Which land-cover classes are in this image?',
                           [dict(type='labels', labels=['water', 'forest'])]))
    # infrared: one band of 8-bit thermal, three warm spots
    ir = np.full((1, 64, 64), 60, np.uint8)
    for x in (10, 30, 50):
        ir[0, 28:36, x - 4:x + 4] = 230
    _tif(os.path.join(root, 'ir', 't.tif'), ir)
    records.append(_record('ir-0', 'vqa', 'infrared', [dict(path='ir/t.tif', sensor='thermal')],
                           'How many hot spots are there in this image?',
                           [dict(type='count', count=3)]))
    # temporal: two dated RGB GeoTIFFs, a building appears
    before = np.full((3, 64, 64), 90, np.uint8)
    before[1] = 130
    after = before.copy()
    after[:, 16:32, 36:56] = 220
    _tif(os.path.join(root, 'ts', 'a.tif'), before)
    _tif(os.path.join(root, 'ts', 'b.tif'), after)
    change_poly = dict(type='poly', points=[[36.0, 16.0], [56.0, 16.0], [56.0, 32.0],
                                            [36.0, 32.0]])
    records.append(_record('ts-0', 'change', 'temporal',
                           [dict(path='ts/b.tif', sensor='rgb', time='2021-06-01'),
                            dict(path='ts/a.tif', sensor='rgb', time='2020-06-01')],
                           'Outline the regions that changed between the two images.',
                           [change_poly]))
    # fusion: optical + SAR of one scene, a multiple-choice question
    records.append(_record('fu-0', 'choice', 'fusion',
                           [dict(path='ts/b.tif', sensor='rgb'),
                            dict(path='sar/s1.tif', sensor='sentinel1_grd')],
                           'Which sensor shows the field brighter?\nA. optical\nB. SAR',
                           [dict(type='choice', choices=['optical', 'SAR'], answer='B')]))
    with open(os.path.join(root, 'test.jsonl'), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)

    head = HEADS.build(dict(type='grounding', serializer=SERIALIZER))
    opt = records[:3]
    right = head.answer_text(opt[0]['targets'], (64, 64))
    x1, y1, x2, y2 = opt[2]['targets'][0]['bbox']
    shifted = head.answer_text([dict(type='hbb', bbox=[x1 + 9, y1 + 6, x2 + 9, y2 + 6])],
                               (64, 64))
    sar_box = head.answer_text([dict(type='hbb', bbox=[10.0, 22.0, 30.0, 40.0])], (64, 64))
    change = HEADS.build(dict(type='change', serializer=SERIALIZER))
    change_text = change.answer_text([dict(type='poly', points=[[38.0, 14.0], [56.0, 14.0],
                                                                [56.0, 34.0], [38.0, 34.0]])],
                                     (64, 64))
    preds = [
        dict(id=opt[0]['id'], task='grounding', modality='optical', cell='grounding',
             prediction=right),
        dict(id=opt[1]['id'], task='grounding', modality='optical', cell='grounding',
             prediction='<box><loc_3><loc_$x^2$'),                     # malformed
        dict(id=opt[2]['id'], task='grounding', modality='optical', cell='grounding',
             prediction=shifted),
        dict(id='sar-0', task='grounding', modality='sar', cell='grounding', prediction=sar_box),
        dict(id='ms-0', task='classification', modality='multispectral',
             cell='classification/multilabel', prediction='water, forest, urban'),
        dict(id='ir-0', task='vqa', modality='infrared', cell='vqa/count', prediction='3'),
        dict(id='ts-0', task='change', modality='temporal', cell='change',
             prediction=change_text),
        dict(id='fu-0', task='choice', modality='fusion', cell='choice', prediction='B'),
        dict(id='not-in-test-7', task='vqa', modality='optical', cell='vqa',
             prediction='yes'),                                         # id missing
    ]
    work = str(tmp_path_factory.mktemp('work'))
    with open(os.path.join(work, 'eov_tiny_demo.py'), 'w') as f:   # as MMEngine saves it
        f.write(f'serializer = {SERIALIZER!r}\nmodalities = {MODALITIES!r}\n')
    with open(os.path.join(work, 'predictions.jsonl'), 'w') as f:
        f.writelines(json.dumps(p) + '\n' for p in preds)
    scoreboard = {
        'optical': {'grounding': dict(metric='Acc@0.5', value=0.6667, chance=0.12, n=3)},
        'sar': {'grounding': dict(metric='Acc@0.5', value=1.0, chance=0.1, n=1)},
        'multispectral': {'classification/multilabel': dict(metric='micro_f1', value=0.8,
                                                            chance=0.35, n=1)},
        'infrared': {'vqa/count': dict(metric='count_mae', value=0.25, chance=1.5, n=1,
                                       lower_is_better=True)},
        'temporal': {'change': dict(metric='f1', value=0.21, chance=0.3, n=1)},
        'fusion': {'choice': dict(metric='accuracy', value=1.0, chance=0.5, n=1)},
    }
    with open(os.path.join(work, 'scoreboard.json'), 'w') as f:
        json.dump(scoreboard, f)
    with open(os.path.join(work, 'metrics.json'), 'w') as f:
        json.dump({'optical/grounding/Acc@0.5': 0.6667, 'optical/grounding/Acc@0.5_chance': 0.12},
                  f)
    # stage 1 stopped after iteration 50 and resumed from its iteration-30 checkpoint;
    # a validation row (no loss) and a line cut short by the kill are in the logs too
    s1 = os.path.join(work, '1_alignment')
    _scalars(s1, '20250101_100000', _train_rows(range(10, 60, 10), 6.0, 0.05, tag=1)
             + [dict(accuracy=0.1, step=50)], tail='{"loss": 1.0, "st')
    _scalars(s1, '20250101_110000', _train_rows(range(40, 110, 10), 6.0, 0.05, tag=2))
    _scalars(os.path.join(work, '2_physics'), '20250101_120000',
             _train_rows(range(10, 70, 10), 2.0, 0.4, tag=3))
    return dict(root=root, work=work, records=records, preds=preds)


def test_read_stage_losses_orders_stages_and_global_steps(demo):
    stages = read_stage_losses(demo['work'])
    assert list(stages) == ['1_alignment', '2_physics']
    first, second = stages['1_alignment'], stages['2_physics']
    assert [r['step'] for r in first] == list(range(10, 110, 10))
    # the resumed run replaces the steps it logged again (40, 50) and only those
    assert [r['run'] for r in first] == [1, 1, 1, 2, 2, 2, 2, 2, 2, 2]
    assert [r['step'] for r in second] == list(range(10, 70, 10))
    steps = [r['global_step'] for rows in stages.values() for r in rows]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert second[0]['global_step'] == 110 and second[-1]['global_step'] == 160
    assert all('loss' in r for rows in stages.values() for r in rows)


def test_stage_folders_sort_by_index(tmp_path):
    for name, steps in (('10_joint', [5]), ('2_viewpoint', [10, 20])):
        _scalars(str(tmp_path / name), '20250101_000000', _train_rows(steps, 1.0, 0.5))
    stages = read_stage_losses(str(tmp_path))
    assert list(stages) == ['2_viewpoint', '10_joint']
    assert stages['10_joint'][0]['global_step'] == 25


def test_beats_chance_respects_direction():
    assert beats_chance(0.6, 0.5) is True
    assert beats_chance(0.5, 0.5) is False
    assert beats_chance(0.3, 1.2, lower_is_better=True) is True
    assert beats_chance(2.0, 1.2, lower_is_better=True) is False
    assert beats_chance(float('nan'), 0.5) is None and beats_chance(0.5, None) is None


def _png_size(path):
    from PIL import Image
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == 'PNG'
        return im.size


def test_write_report(demo):
    """Modalities and serializer from the config saved in the work dir."""
    assert saved_config(demo['work'])['serializer'] == SERIALIZER
    path = write_report(demo['work'], demo['root'], per_cell=2)
    assert path == os.path.join(demo['work'], 'report.md')
    text = open(path, encoding='utf-8').read()
    assert text.startswith('# ')
    assert '| optical | grounding | Acc@0.5 | 0.6667 | 0.1200 | 3 | yes |' in text
    assert '| infrared | vqa/count | count_mae (lower is better) | 0.2500 | 1.5000 | 1 | yes |' \
        in text
    assert '| temporal | change | f1 | 0.2100 | 0.3000 | 1 | no |' in text
    assert '| multispectral | classification/multilabel | micro_f1 | 0.8000 |' in text
    assert '| sar | grounding | Acc@0.5 | 1.0000 | 0.1000 | 1 | yes |' in text
    assert '5 of 6 cells beat chance' in text
    assert '| 1 | alignment | 100 |' in text and '| 2 | physics | 60 |' in text
    assert '160 iterations in all' in text
    assert '](loss_curves.png)' in text and '](predictions.png)' in text
    assert '1 prediction id(s) not in the test file' in text
    w, h = _png_size(os.path.join(demo['work'], 'loss_curves.png'))
    assert 600 <= w <= 2000 and 400 <= h <= 1500
    w, h = _png_size(os.path.join(demo['work'], 'predictions.png'))
    assert 800 <= w <= 3000 and 600 <= h <= 4000


def test_plot_predictions_survives_bad_predictions_and_images(demo, tmp_path):
    records = [dict(r) for r in demo['records']]
    records.append(_record('gone-0', 'grounding', 'optical',
                           [dict(path='images/missing.tif', sensor='rgb')], 'Where is it?',
                           [dict(type='hbb', bbox=[1.0, 1.0, 5.0, 5.0])]))
    junk = ['<box><loc_99999><loc_1><loc_2><loc_3></box>', None, 12, '$\\frac{', '<poly>',
            'x' * 5000, '<quad><loc_1><loc_2></quad>', '']
    preds = {r['id']: dict(prediction=junk[i % len(junk)], cell=r['task'])
             for i, r in enumerate(records)}
    preds['nowhere'] = 'text'
    out = plot_predictions(records, preds, demo['root'], str(tmp_path / 'p.png'), per_cell=5,
                           serializer=SERIALIZER, modalities=MODALITIES)
    assert out['missing'] == 1 and out['unreadable'] == 1
    assert out['panels'] == len(records)
    _png_size(str(tmp_path / 'p.png'))


def test_single_run_work_dir_without_scoreboard(demo, tmp_path):
    """Today's `make demo` layout: one MMEngine run in WORK, metrics.json, no cells."""
    work = str(tmp_path)
    _scalars(work, '20250101_000000', _train_rows(range(5, 35, 5), 3.0, 0.1))
    _scalars(work, '20250101_010000', [dict(**{'grounding/Acc@0.5': 0.5}, step=0)])  # test run
    with open(os.path.join(work, 'metrics.json'), 'w') as f:
        json.dump({'grounding/Acc@0.5': 0.5, 'grounding/Acc@0.5_baseline': 0.125}, f)
    with open(os.path.join(work, 'predictions.jsonl'), 'w') as f:
        for p in demo['preds'][:3]:
            f.write(json.dumps(dict(id=p['id'], task=p['task'], prediction=p['prediction']))
                    + '\n')
    text = open(write_report(work, demo['root'], serializer=SERIALIZER, modalities=MODALITIES),
                encoding='utf-8').read()
    assert '| grounding/Acc@0.5 | 0.5000 | 0.1250 |' in text
    assert '| 1 | train | 30 |' in text
    assert list(read_stage_losses(work)) == ['train']
    _png_size(os.path.join(work, 'predictions.png'))


def test_cli_takes_modalities_and_serializer_from_config(demo, capsys):
    tool = load_tool('report')
    out = str(os.path.join(demo['work'], 'predictions.png'))
    os.remove(out)
    assert tool.main([demo['work'], '--data', demo['root'],
                      '--config', os.path.join(ROOT, 'configs', 'eov_tiny_synth.py')]) == 0
    printed = capsys.readouterr().out
    assert f"report: {os.path.join(demo['work'], 'report.md')}" in printed
    # the console ends with the scoreboard as a table, then the count of cells that learned
    board = json.load(open(os.path.join(demo['work'], 'scoreboard.json')))
    *_, last_row, summary = printed.strip().splitlines()
    modality = list(board)[-1]
    assert last_row.split()[:2] == [modality, list(board[modality])[-1]]
    assert re.match(r'\d+ of \d+ cells (learned|beat chance)', summary), summary
    assert os.path.isfile(out)


def test_report_of_a_bare_work_dir_with_baselines(tmp_path):
    """Only a scoreboard (chance missing in one cell, a grounding baseline): no crash."""
    board = {'all': {'grounding': dict(metric='Acc@0.5', value=0.4, chance=0.1, baseline=0.2,
                                       n=10),
                     'captioning': dict(metric='CIDEr', value=None, chance=None, n=0)}}
    (tmp_path / 'scoreboard.json').write_text(json.dumps(board))
    text = open(write_report(str(tmp_path), str(tmp_path / 'nodata')), encoding='utf-8').read()
    assert '| all | grounding | Acc@0.5 | 0.4000 | 0.1000 | 0.2000 | 10 | yes |' in text
    assert '| all | captioning | CIDEr | \u2013 | \u2013 | \u2013 | 0 | \u2013 |' in text
    assert '1 of 1 cells beat chance' in text
    assert 'No stage folders' in text and 'No test file' in text
    _png_size(str(tmp_path / 'loss_curves.png'))


def test_chance_margin_is_a_share_of_the_room_chance_leaves():
    assert chance_margin(dict(metric='accuracy', value=0.75, chance=0.5)) == 0.5
    assert chance_margin(dict(metric='accuracy', value=0.25, chance=0.5)) == -0.5
    assert chance_margin(dict(metric='CIDEr', value=5.5, chance=1.0)) == 0.5   # CIDEr tops at 10
    assert chance_margin(dict(metric='count_mae', value=0.5, chance=2.0,
                              lower_is_better=True)) == 0.75
    assert chance_margin(dict(metric='count_mae', value=9.0, chance=2.0,
                              lower_is_better=True)) == -1.0                    # clipped
    assert chance_margin(dict(metric='mAP@0.5', value=0.0, chance=0.0)) == 0.0
    assert chance_margin(dict(metric='accuracy', value=None, chance=0.5)) is None


def test_scoreboard_picture_colours_cells_and_frames_the_learned(tmp_path):
    board = {
        'optical': {'classification/single': dict(metric='accuracy', value=0.9, chance=0.3,
                                                  n=50, ci=[0.8, 0.96], learned=True),
                    'grounding/hbb': dict(metric='Acc@0.5', value=0.0, chance=0.0, n=50,
                                          ci=[0.0, 0.07], learned=False)},
        'sar': {'classification/single': dict(metric='accuracy', value=0.1, chance=0.3, n=50,
                                              ci=[0.04, 0.21], learned=False)},
    }
    out = plot_scoreboard(board, str(tmp_path / 'board.png'), title='test board')
    width, height = _png_size(out)
    assert width > height > 100
    from PIL import Image
    img = np.asarray(Image.open(out).convert('RGB')).astype(int)
    # the learned optical square is green, the SAR square below it red
    green = ((img[..., 1] - img[..., 0] > 60) & (img[..., 1] > 120)).sum()
    red = ((img[..., 0] - img[..., 1] > 60) & (img[..., 0] > 150)).sum()
    assert green > 500 and red > 500, (green, red)
    # the report opens with the picture
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'scoreboard.json').write_text(json.dumps(board))
    text = open(write_report(str(work), str(tmp_path)), encoding='utf-8').read()
    first = text.index('![scoreboard')
    assert first < text.index('## Scoreboard')
    assert os.path.isfile(work / 'scoreboard.png')
    assert '1 of 3 cells learned' in text
    assert '| optical | classification/single | accuracy | 0.9000 | [0.800, 0.960] | 0.3000 ' \
           '| 50 | yes |' in text


def test_report_compares_the_optical_cells_with_the_starting_model(tmp_path):
    from eov.evaluation.report import forgetting_rows
    start = {'optical': {'grounding/hbb': dict(metric='Acc@0.5', value=0.7, ci=[0.6, 0.8]),
                         'vqa/count': dict(metric='count_exact', value=0.6),
                         'region': dict(metric='accuracy', value=0.9)},
             'sar': {'region': dict(metric='accuracy', value=0.1)}}
    end = {'optical': {'grounding/hbb': dict(metric='Acc@0.5', value=0.66, ci=[0.5, 0.75]),
                       'vqa/count': dict(metric='count_exact', value=0.5),
                       'region': dict(metric='accuracy', value=0.95)},
           'sar': {'region': dict(metric='accuracy', value=0.8)}}
    rows = {r['cell']: r for r in forgetting_rows(start, end)}
    assert set(rows) == {'grounding/hbb', 'vqa/count', 'region'}
    assert rows['grounding/hbb']['kept'] and not rows['vqa/count']['kept']
    assert rows['region']['change'] == pytest.approx(0.05)
    work = tmp_path / 'w'
    (work / 'base').mkdir(parents=True)
    (work / 'base' / 'scoreboard.json').write_text(json.dumps(start))
    (work / 'scoreboard.json').write_text(json.dumps(end))
    text = open(write_report(str(work), str(tmp_path)), encoding='utf-8').read()
    assert '## Forgetting' in text and '2 of 3 optical cells kept.' in text
    assert '| grounding/hbb | Acc@0.5 | 0.700 [0.60, 0.80] | 0.660 [0.50, 0.75] | -0.040 | yes |' \
        in text


def test_without_a_config_no_examples_are_drawn(demo, tmp_path):
    """No --config and no config saved in the work dir: the report says so, draws none."""
    with open(tmp_path / 'predictions.jsonl', 'w') as f:
        f.writelines(json.dumps(p) + '\n' for p in demo['preds'][:2])
    text = open(write_report(str(tmp_path), demo['root']), encoding='utf-8').read()
    assert 'No config saved in the work dir' in text
    assert not (tmp_path / 'predictions.png').exists()


def test_marks_are_the_verdicts_of_the_metric(demo, tmp_path):
    """Every drawn mark is the verdict TaskMetric wrote into predictions.jsonl. An answer
    that matches the bounds of a thin oriented target is wrong by the metric's polygon IoU,
    though its bounds' IoU is near 1 (the rule the report used to judge by)."""
    thin = dict(type='obb', obb=[32.0, 32.0, 40.0, 8.0, 45.0])
    record = _record('thin-0', 'grounding', 'optical', demo['records'][0]['images'],
                     'Where is the jetty?', [thin])
    head = HEADS.build(dict(type='grounding', serializer=SERIALIZER))
    answer = head.answer_text([dict(type='hbb', bbox=list(object_bounds(thin)))], (64, 64))
    records = demo['records'] + [record]
    preds = {p['id']: p['prediction'] for p in demo['preds']}
    preds['thin-0'] = answer
    path = tmp_path / 'predictions.jsonl'
    metric = TaskMetric(serializer=SERIALIZER, group_by='modality', predictions_file=str(path))
    metric.process(None, [dict(id=r['id'], task=r['task'], modality=r['modality'],
                               targets=r['targets'], image_size=(64, 64), meta={},
                               prediction=preds[r['id']]) for r in records])
    metric.compute_metrics(metric.results)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    verdicts = {r['id']: r['correct'] for r in rows}
    assert set(verdicts.values()) == {True, False}
    thin_row = next(r for r in rows if r['id'] == 'thin-0')
    assert thin_row['iou'] < 0.5 and thin_row['correct'] is False
    assert box_iou(thin_row['box'], list(object_bounds(thin))) > 0.9
    out = plot_predictions(records, rows, demo['root'], str(tmp_path / 'p.png'), per_cell=9,
                           serializer=SERIALIZER, modalities=MODALITIES)
    assert out['marks'] == {i: verdicts[i] for i in out['marks']}
    assert len(out['marks']) == len(records) and out['marks']['thin-0'] is False
