"""Tiny benchmark downloads, written in each benchmark's published layout.

Image files are empty placeholders (converters only check that they exist);
BigEarthNet bands are 1x1 GeoTIFFs.
"""
from __future__ import annotations

import json
import os

#: RSVG objects per XML file: (file, (W, H), [(name, [xmin, ymin, xmax, ymax], description)])
#: Written in unsorted order on purpose; global indices follow sorted file names:
#: a.xml -> 0, 1; b.xml -> 2; c.xml -> 3, 4.
RSVG_FILES = [
    ('c', (128, 128), [('vehicle', [32, 32, 96, 96], 'A white vehicle in the middle.'),
                       ('bridge', [0, 64, 128, 128], 'the bridge at the bottom')]),
    ('a', (128, 128), [('airplane', [0, 0, 64, 64], 'An airplane on the upper left'),
                       ('ship', [64, 64, 128, 128], 'the ship')]),
    ('b', (100, 100), [('storagetank', [50, 50, 100, 100], 'a storage tank')]),
]


def _touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb'):
        pass


def write_rsvg(root: str, image_dir: str = 'JPEGImages', files=RSVG_FILES,
               splits=None) -> str:
    """A DIOR-RSVG / OPT-RSVG style folder: Annotations/, images, split files."""
    os.makedirs(os.path.join(root, 'Annotations'), exist_ok=True)
    for stem, (w, h), objects in files:
        parts = [f'<annotation>\n  <filename>{stem}.jpg</filename>\n'
                 '  <source><database>DIOR</database></source>\n'
                 f'  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>\n'
                 '  <segmented>0</segmented>\n']
        for name, (x1, y1, x2, y2), desc in objects:
            parts.append(f'  <object>\n    <name>{name}</name>\n    <pose>Unspecified</pose>\n'
                         f'    <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>'
                         f'<ymax>{y2}</ymax></bndbox>\n'
                         f'    <description>{desc}</description>\n  </object>\n')
        parts.append('</annotation>\n')
        with open(os.path.join(root, 'Annotations', f'{stem}.xml'), 'w') as f:
            f.write(''.join(parts))
        _touch(os.path.join(root, image_dir, f'{stem}.jpg'))
    splits = splits or {'train': [1], 'val': [], 'test': [4, 0, 3, 2]}
    for split, indices in splits.items():
        with open(os.path.join(root, f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{i}\n' for i in indices))
    return root


def write_sarlang(root: str) -> tuple[str, str]:
    """A SARLANG-style VQA CSV and a JSON list with the same kind of rows."""
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    for name in ('s1.png', 's2.png', 's3.png'):
        _touch(os.path.join(root, 'images', name))
    csv_path = os.path.join(root, 'sarlang_vqa_test.csv')
    with open(csv_path, 'w', newline='') as f:
        f.write('Img_Path,Question,Answer,Type\n'
                'images/s1.png,How many ships are there?,2,counting\n'
                'images/s1.png,Is there a bridge?,yes,existence\n'
                'images/s2.png,What is the main facility?,airport,classification\n'
                'images/s2.png,What lies next to the water?,harbor,classification\n'
                'images/s3.png,How many tanks are visible?,3,counting\n')
    json_path = os.path.join(root, 'extra.json')
    with open(json_path, 'w') as f:
        json.dump([{'image': 'images/s3.png', 'question': 'Is it urban?', 'answer': 'no',
                    'question_type': 'existence', 'question_id': 77}], f)
    return csv_path, json_path


def write_rsvqa(root: str, prefix: str = 'LR_split_test', image_dir: str = 'Images_LR') -> str:
    """RSVQA-style questions/answers/images JSON files (unbalanced question types).

    Active image 0: questions 0..3 (presence, 3 of them with answer 'yes', one
    inactive question 3); image 1: questions 4, 5 (count, presence); image 2 is
    inactive (question 6 is skipped with it).
    """
    questions = [
        dict(id=0, img_id=0, type='presence', question='Is there a road?', answers_ids=[0]),
        dict(id=1, img_id=0, type='presence', question='Is there a building?', answers_ids=[1]),
        dict(id=2, img_id=0, type='presence', question='Is there water?', answers_ids=[2]),
        dict(id=3, img_id=0, type='presence', question='Inactive?', answers_ids=[3],
             active=False),
        dict(id=4, img_id=1, type='count', question='How many buildings are there?',
             answers_ids=[4]),
        dict(id=5, img_id=1, type='presence', question='Is there a farmland?', answers_ids=[5]),
        dict(id=6, img_id=2, type='presence', question='Is there a forest?', answers_ids=[6]),
    ]
    for q in questions:
        q.setdefault('active', True)
        q['date_added'] = 0
        q['people_id'] = 0
    answers = [dict(id=i, question_id=i, answer=a, active=True, date_added=0, people_id=0)
               for i, a in enumerate(['yes', 'Yes', 'no', 'yes', '12', 'no', 'yes'])]
    images = [dict(id=0, questions_ids=[0, 1, 2, 3], active=True),
              dict(id=1, questions_ids=[4, 5], active=True),
              dict(id=2, questions_ids=[6], active=False)]
    os.makedirs(root, exist_ok=True)
    for key, entries in (('questions', questions), ('answers', answers), ('images', images)):
        with open(os.path.join(root, f'{prefix}_{key}.json'), 'w') as f:
            json.dump({key: entries}, f)
    for i in range(3):
        _touch(os.path.join(root, image_dir, f'{i}.tif'))
    return root


def write_earthmind(root: str) -> str:
    """Two EarthMind-Bench MCQ files and the paired rgb/sar images."""
    data = {
        'object_counting': [
            {'file_name': 'scene_1.json', 'question': 'How many ships are there?',
             'candidate': ['A. 1', 'B. 2', 'C. 3'], 'answer': 'A', 'task_type': 'counting'},
            {'file_name': 'scene_2.png', 'question': 'How many bridges are there?',
             'candidate': ['A. 0', 'B. 1'], 'answer': 'B', 'task_type': 'counting'},
            {'file_name': 'scene_2.png', 'question': 'Describe the image.',
             'answer': 'a harbour', 'task_type': 'caption'},
        ],
        'scene_classification': [
            {'file_name': 'scene_1.json', 'question': 'What is the scene?',
             'candidate': ['A. forest', 'B. harbour'], 'answer': 'B. harbour',
             'task_type': 'scene'},
        ],
    }
    os.makedirs(root, exist_ok=True)
    for stem, items in data.items():
        with open(os.path.join(root, f'{stem}.json'), 'w') as f:
            json.dump(items, f)
    for modality in ('rgb', 'sar'):
        for name in ('scene_1.png', 'scene_2.png'):
            _touch(os.path.join(root, modality, 'img', name))
    return root


BAND_NAMES = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B11',
              'B12')


def write_bigearthnet(root: str, patches: dict[str, list[str]], split: dict | None = None) -> str:
    """BigEarthNet v1.0 patch folders: 12 single-band 1x1 GeoTIFFs and labels metadata."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    for patch, labels in patches.items():
        folder = os.path.join(root, patch)
        os.makedirs(folder, exist_ok=True)
        for band in BAND_NAMES:
            with rasterio.open(os.path.join(folder, f'{patch}_{band}.tif'), 'w', driver='GTiff',
                               width=1, height=1, count=1, dtype='uint16', crs='EPSG:32632',
                               transform=from_origin(500000, 5000000, 10, 10)) as dst:
                dst.write(np.full((1, 1, 1), 1000, np.uint16))
        with open(os.path.join(folder, f'{patch}_labels_metadata.json'), 'w') as f:
            json.dump({'labels': labels, 'coordinates': {}, 'projection': '',
                       'tile_source': '', 'acquisition_date': ''}, f)
    for name, names in (split or {}).items():
        with open(os.path.join(root, f'{name}.csv'), 'w') as f:
            f.write(''.join(f'{n}\n' for n in names))
    return root


def write_jsonl(path: str, rows) -> str:
    with open(path, 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')
    return path


#: DOTA label files: (image name, (W, H) or None for no image, header lines, object lines).
DOTA_FILES = [
    ('P0001', (200, 100), ['imagesource:GoogleEarth', 'gsd:0.146343590398'], [
        '10 10 30 10 30 30 10 30 plane 0',          # A
        '50 10 70 10 70 30 50 30 plane 0',          # B
        '100 10 120 10 120 30 100 30 plane 1',      # C, difficult
        '10 60 40 60 40 70 10 70 ship 0',
    ]),
    ('P0002', (100, 100), ['imagesource:GoogleEarth', 'gsd:0.5'], [
        '0 0 20 0 20 20 0 20 plane',                # D, 9 fields: not difficult
    ]),
    ('P0003', (64, 48), ['imagesource:GoogleEarth', 'gsd:null'], []),
]


def write_dota(root: str, files=DOTA_FILES, label_dir: str = 'labelTxt') -> str:
    """A DOTA v1.0 folder: images/*.png (real PNGs of the given sizes) and labelTxt/*.txt."""
    from PIL import Image
    os.makedirs(os.path.join(root, label_dir), exist_ok=True)
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    for name, size, header, lines in files:
        with open(os.path.join(root, label_dir, f'{name}.txt'), 'w') as f:
            f.write(''.join(f'{line}\n' for line in header + lines))
        if size is not None:
            Image.new('RGB', size).save(os.path.join(root, 'images', f'{name}.png'))
    return root


#: LEVIR-CC entries: (filename, split, [(raw, tokens)]).
LEVIRCC_IMAGES = [
    ('train_000001.png', 'train', [(' the road is widened .', ['the', 'road', 'is', 'widened']),
                                   ('some houses are built .', ['some', 'houses', 'are',
                                                                'built'])]),
    ('test_000001.png', 'test', [(' many buildings appear along the road .',
                                  ['many', 'buildings', 'appear', 'along', 'the', 'road']),
                                 ('the scene is the same as before .',
                                  ['the', 'scene', 'is', 'the', 'same', 'as', 'before'])]),
    ('test_000002.png', 'test', [('there is no difference .', ['there', 'is', 'no',
                                                                'difference'])]),
]


def write_levircc(root: str, images=LEVIRCC_IMAGES) -> str:
    """LevirCCcaptions.json (Karpathy style) and images/<split>/{A,B}/<filename> placeholders."""
    entries, sentid = [], 0
    for imgid, (filename, split, sentences) in enumerate(images):
        sents = []
        for raw, tokens in sentences:
            sents.append({'tokens': tokens, 'raw': raw, 'imgid': imgid, 'sentid': sentid})
            sentid += 1
        entries.append({'filepath': split, 'filename': filename, 'imgid': imgid,
                        'sentences': sents, 'split': split,
                        'sentids': [s['sentid'] for s in sents]})
        for part in ('A', 'B'):
            _touch(os.path.join(root, 'images', split, part, filename))
    with open(os.path.join(root, 'LevirCCcaptions.json'), 'w') as f:
        json.dump({'images': entries, 'dataset': 'LEVIR-CC'}, f)
    return root


def write_reben(root: str, rows: list[dict], with_bands: bool = True) -> str:
    """reBEN: metadata.csv (a CSV export of metadata.parquet) and BigEarthNet-S2/<tile>/<patch>/.

    ``rows``: dicts with ``patch_id``, ``labels`` (list), ``split`` and any other column;
    labels are written as pandas writes a NumPy array column (``['a' 'b']``).
    """
    import csv
    os.makedirs(root, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(os.path.join(root, 'metadata.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            row = dict(row)
            row['labels'] = '[' + ' '.join(repr(v) for v in row['labels']) + ']'
            writer.writerow(row)
    if with_bands:
        import numpy as np
        import rasterio
        from rasterio.transform import from_origin
        for row in rows:
            patch = row['patch_id']
            folder = os.path.join(root, 'BigEarthNet-S2', patch.rsplit('_', 2)[0], patch)
            os.makedirs(folder, exist_ok=True)
            for band in BAND_NAMES:
                with rasterio.open(os.path.join(folder, f'{patch}_{band}.tif'), 'w',
                                   driver='GTiff', width=1, height=1, count=1, dtype='uint16',
                                   crs='EPSG:32634',
                                   transform=from_origin(500000, 5000000, 10, 10)) as dst:
                    dst.write(np.full((1, 1, 1), 1000, np.uint16))
    return root


def convert_and_load(name: str, src: str, out, **kwargs):
    """Convert ``src`` with benchmark ``name`` into ``out`` and read the records back.

    Returns:
        ``(benchmark, {id: record}, number converted)``.
    """
    from eov.evaluation.benchmarks.base import load_records
    from eov.registry import BENCHMARKS
    bench = BENCHMARKS.build(dict(type=name))
    count = bench.convert(src, str(out), progress=False, **kwargs)
    return bench, load_records(str(out)), count
