"""RSVQA-LR and RSVQA-HR (Lobry et al., TGRS 2020): questions on Sentinel-2 / aerial tiles.

Each split is three JSON files named ``<prefix>_questions.json``,
``<prefix>_answers.json`` and ``<prefix>_images.json`` (e.g.
``LR_split_test_*`` or ``USGS_split_test_phili_*``)::

    {"questions": [{"id", "img_id", "question", "type", "answers_ids", "active"}, ...]}
    {"answers":   [{"id", "question_id", "answer", "active"}, ...]}
    {"images":    [{"id", "questions_ids", "active"}, ...]}

The official loader (``VQA_model/VQALoader.py`` of syvlo/RSVQA) walks the
active images, then every id in each image's ``questions_ids``, and takes the
answer ``answers_ids[0]``: it never reads the ``active`` flag of a question
or of an answer, so a question marked inactive on an active image is scored.
This converter does the same by default (looking entries up by their ``id``
rather than by list position, which the official loader assumes equal) and
flags such questions in ``meta``; ``skip_inactive=True`` (a conversion and a
scoring option) leaves them out, as conversions that keep only active
questions do.
"""
from __future__ import annotations

import glob
import os
from collections import defaultdict

from eov.heads.vqa import VQAHead
from eov.registry import BENCHMARKS

from .base import BaseBenchmark, BenchmarkDataError, as_bool, as_names, read_json


def _entries(path: str, key: str) -> dict:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise BenchmarkDataError(f'{path}: expected an object with a {key!r} list')
    out = {}
    for i, entry in enumerate(data[key]):
        if not isinstance(entry, dict) or 'id' not in entry:
            raise BenchmarkDataError(f'{path}: {key}[{i}] has no "id"')
        out[entry['id']] = entry
    return out


class RSVQABenchmark(BaseBenchmark):
    """Shared converter and scorer of RSVQA-LR/HR.

    Records: the questions the official loader scores (see the module
    docstring); one whose question or first answer is marked inactive has
    ``meta.inactive`` (``['question']``, ``['answer']`` or both).

    Scoring: exact match after lower-casing and stripping both strings.
    Counting questions are answered with numbers and compared as strings
    (the binning RSVQA's loaders apply to LR counts -- ``between 0 and 10``,
    ... -- and HR areas is not applied here). Keys:
    ``accuracy/<question type>``, ``AA`` (mean of the per-type accuracies),
    ``OA`` (all questions pooled), ``n``, ``n_missing``, and ``n_inactive``
    (questions counted that are flagged inactive; left out, and 0, with
    ``skip_inactive=True``). The scoring option ``exclude_types`` (a list or
    comma-separated text, e.g. ``count``) leaves types out of ``AA``/``OA``,
    as papers that skip RSVQA-LR counting do.
    """

    task = 'vqa'
    #: Image folder and file extension of the download.
    default_images = 'Images_LR'
    convert_options = {
        'images': 'image folder, relative to SRC or absolute (default: the benchmark\'s)',
        'prefix': 'file prefix, e.g. LR_split_test (default: found from --split)',
        'extension': 'image file extension (default: .tif)',
        'skip_inactive': 'leave out questions marked inactive, and questions whose first '
                         'answer is (default: false -- the official loader scores them)',
    }
    metric_keys = ('AA', 'OA', 'n', 'n_missing', 'n_inactive')

    def _prefix(self, src: str, split: str | None, prefix: str | None) -> str:
        if prefix:
            return prefix if os.path.isabs(prefix) else os.path.join(src, prefix)
        if not split:
            raise BenchmarkDataError(f'{self.name}: give --split (e.g. test) or a prefix option')
        for pattern in (f'*split_{split}_questions.json', f'*_{split}_questions.json'):
            found = sorted(glob.glob(os.path.join(glob.escape(src), pattern)))
            if len(found) == 1:
                return found[0][:-len('_questions.json')]
            if len(found) > 1:
                raise BenchmarkDataError(f'{self.name}: several question files match split '
                                         f'{split!r}: {", ".join(found)}; pass a prefix option')
        present = sorted(os.path.basename(p) for p in
                         glob.glob(os.path.join(glob.escape(src), '*_questions.json')))
        raise BenchmarkDataError(f'{self.name}: no *_{split}_questions.json in {src} (found: '
                                 f'{", ".join(present) or "none"})')

    def iter_records(self, src, split=None, images=None, prefix=None, extension='.tif',
                     skip_inactive=False):
        """Yield one VQA record per question of the active images (see the module docstring)."""
        skip_inactive = as_bool(skip_inactive, 'skip_inactive')
        if not os.path.isdir(src):
            raise BenchmarkDataError(f'{self.name}: SRC must be the dataset folder, got {src}')
        base = self._prefix(src, split, prefix)
        paths = {k: f'{base}_{k}.json' for k in ('questions', 'answers', 'images')}
        for path in paths.values():
            if not os.path.isfile(path):
                raise BenchmarkDataError(f'{self.name}: file not found: {path}')
        questions = _entries(paths['questions'], 'questions')
        answers = _entries(paths['answers'], 'answers')
        image_entries = _entries(paths['images'], 'images')
        img_dir = self.resolve_dir(src, images or self.default_images)
        if not extension.startswith('.'):
            extension = '.' + extension
        counts = {'question': 0, 'answer': 0}
        head = VQAHead()
        # VQALoader.py: images = [img['id'] for img in images if img['active']]
        active_images = [img for img in image_entries.values() if img.get('active')]
        for img in self.progress(active_images, 'images'):
            for qid in img.get('questions_ids') or []:
                q = questions.get(qid)
                if q is None:
                    raise BenchmarkDataError(f"{paths['images']}: image {img['id']} lists "
                                             f"question {qid}, not in {paths['questions']}")
                inactive = [] if q.get('active', True) else ['question']
                if inactive and skip_inactive:
                    counts['question'] += 1
                    continue
                for key in ('question', 'type', 'answers_ids'):
                    if key not in q:
                        hint = (' (it is marked inactive: -o skip_inactive=true leaves such '
                                'questions out)' if inactive else '')
                        raise BenchmarkDataError(f"{paths['questions']}: question {qid} has "
                                                 f'no {key!r}{hint}')
                if not q['answers_ids']:
                    raise BenchmarkDataError(f"{paths['questions']}: question {qid} has no "
                                             'answers_ids')
                # VQALoader.py: answers[question['answers_ids'][0]]['answer'], flags unread
                ans = answers.get(q['answers_ids'][0])
                if ans is None or 'answer' not in ans:
                    raise BenchmarkDataError(f"{paths['answers']}: answer "
                                             f"{q['answers_ids'][0]} of question {qid} "
                                             'is missing')
                if not ans.get('active', True):
                    if skip_inactive:
                        counts['answer'] += 1
                        continue
                    inactive.append('answer')
                # the official loader reads <image id>.tif of the image listing the question
                path = os.path.join(img_dir, f"{img['id']}{extension}")
                meta = {'question_type': str(q['type']), 'image_id': img['id'],
                        'source': f"{os.path.basename(paths['questions'])}#{qid}"}
                if inactive:
                    meta['inactive'] = inactive
                yield self.record(str(qid), 'optical',
                                  [{'path': self.image_path(path), 'sensor': 'rgb'}],
                                  head.question(question=str(q['question'])),
                                  [{'type': 'text', 'text': str(ans['answer'])}], meta)
        for key, what in (('question', 'questions marked inactive on active images'),
                          ('answer', 'active questions whose answer is inactive')):
            if counts[key]:
                self.note(f'skipped {counts[key]} {what} (skip_inactive)')

    def score(self, records, predictions, serializer=None, exclude_types=None,
              skip_inactive=False):
        """Exact match per question type; see the class docstring for the keys."""
        skip_inactive = as_bool(skip_inactive, 'skip_inactive')
        excluded = {t.strip() for t in as_names(exclude_types or ())}
        per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        n_inactive = n_missing = 0
        for rid, rec in records.items():
            meta = rec.get('meta') or {}
            qtype = meta.get('question_type', 'unknown')
            if qtype in excluded or (skip_inactive and meta.get('inactive')):
                continue
            n_inactive += bool(meta.get('inactive'))
            truth = next(t['text'] for t in rec['targets'] if t.get('type') == 'text')
            pred = predictions.get(rid)
            n_missing += pred is None
            text = pred.get('prediction') if pred is not None else None
            ok = isinstance(text, str) and text.strip().lower() == str(truth).strip().lower()
            per_type[qtype][0] += ok
            per_type[qtype][1] += 1
        out = {f'accuracy/{qtype}': hits / total
               for qtype, (hits, total) in sorted(per_type.items())}
        accs = [hits / total for hits, total in per_type.values()]
        correct = sum(hits for hits, _ in per_type.values())
        n = sum(total for _, total in per_type.values())
        out['AA'] = sum(accs) / len(accs) if accs else 0.0
        out['OA'] = correct / n if n else 0.0
        out['n'] = n
        out['n_missing'] = n_missing
        out['n_inactive'] = n_inactive
        return out


@BENCHMARKS.register_module(name='rsvqa_lr')
class RSVQALR(RSVQABenchmark):
    """RSVQA-LR: Sentinel-2 RGB tiles in ``Images_LR/<img_id>.tif``, files ``LR_split_*``.

    Question types: ``count``, ``presence``, ``comp``, ``rural_urban``.
    """

    name = 'rsvqa_lr'
    default_images = 'Images_LR'


@BENCHMARKS.register_module(name='rsvqa_hr')
class RSVQAHR(RSVQABenchmark):
    """RSVQA-HR: USGS aerial tiles in ``Data/<img_id>.tif``, files ``USGS_split_*``.

    Splits ``train``, ``val``, ``test`` and ``test_phili`` (the second test
    set). Question types: ``count``, ``presence``, ``comp``, ``area``.
    """

    name = 'rsvqa_hr'
    default_images = 'Data'
