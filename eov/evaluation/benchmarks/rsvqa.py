"""RSVQA-LR and RSVQA-HR (Lobry et al., TGRS 2020): questions on Sentinel-2 / aerial tiles.

Each split is three JSON files named ``<prefix>_questions.json``,
``<prefix>_answers.json`` and ``<prefix>_images.json`` (e.g.
``LR_split_test_*`` or ``USGS_split_test_phili_*``)::

    {"questions": [{"id", "img_id", "question", "type", "answers_ids", "active"}, ...]}
    {"answers":   [{"id", "question_id", "answer", "active"}, ...]}
    {"images":    [{"id", "questions_ids", "active"}, ...]}

RSVQA's loader walks the active images, then each image's ``questions_ids``,
and takes the answer ``answers_ids[0]``; the MLLM evaluation scripts built on
this layout also skip inactive questions. This converter does the same
(looking entries up by their ``id`` rather than by list position) and also
skips a question whose first answer is inactive.
"""
from __future__ import annotations

import glob
import os
from collections import defaultdict

from eov.heads.vqa import VQAHead
from eov.registry import BENCHMARKS

from .base import BaseBenchmark, BenchmarkDataError, read_json


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

    Scoring: exact match after lower-casing and stripping both strings.
    Counting questions are answered with numbers and compared as strings
    (the binning RSVQA's training loaders apply to LR counts -- ``between 0
    and 10``, ... -- and HR areas is not applied here). Keys:
    ``accuracy/<question type>``, ``AA`` (mean of the per-type accuracies),
    ``OA`` (all questions pooled), ``n``, ``n_missing``; the scoring option
    ``exclude_types`` (a list or comma-separated text, e.g. ``count``)
    leaves types out of ``AA``/``OA``, as papers that skip RSVQA-LR counting
    do.
    """

    task = 'vqa'
    #: Image folder and file extension of the download.
    default_images = 'Images_LR'
    convert_options = {
        'images': 'image folder, relative to SRC or absolute (default: the benchmark\'s)',
        'prefix': 'file prefix, e.g. LR_split_test (default: found from --split)',
        'extension': 'image file extension (default: .tif)',
    }
    metric_keys = ('AA', 'OA', 'n', 'n_missing')

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

    def iter_records(self, src, split=None, images=None, prefix=None, extension='.tif'):
        """Yield one VQA record per active question of the split."""
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
        skipped = 0
        head = VQAHead()
        active_images = [img for img in image_entries.values() if img.get('active')]
        for img in self.progress(active_images, 'images'):
            for qid in img.get('questions_ids') or []:
                q = questions.get(qid)
                if q is None:
                    raise BenchmarkDataError(f"{paths['images']}: image {img['id']} lists "
                                             f"question {qid}, not in {paths['questions']}")
                if not q.get('active'):
                    continue
                for key in ('question', 'type', 'answers_ids', 'img_id'):
                    if key not in q:
                        raise BenchmarkDataError(f"{paths['questions']}: question {qid} has "
                                                 f'no {key!r}')
                if not q['answers_ids']:
                    raise BenchmarkDataError(f"{paths['questions']}: question {qid} has no "
                                             'answers_ids')
                ans = answers.get(q['answers_ids'][0])
                if ans is None or 'answer' not in ans:
                    raise BenchmarkDataError(f"{paths['answers']}: answer "
                                             f"{q['answers_ids'][0]} of question {qid} "
                                             'is missing')
                if not ans.get('active', True):
                    skipped += 1
                    continue
                path = os.path.join(img_dir, f"{q['img_id']}{extension}")
                yield {
                    'id': str(qid), 'task': 'vqa', 'modality': 'optical',
                    'images': [{'path': self.image_path(path), 'sensor': 'rgb'}],
                    'conversations': self.conversation(
                        self.prompt(head.question(question=str(q['question'])))),
                    'targets': [{'type': 'text', 'text': str(ans['answer'])}],
                    'meta': {'question_type': str(q['type']), 'image_id': q['img_id'],
                             'source': f"{os.path.basename(paths['questions'])}#{qid}"},
                }
        if skipped:
            self.note(f'skipped {skipped} active questions whose answer is inactive')

    def score(self, records, predictions, serializer=None, exclude_types=None):
        """Exact match per question type; see the class docstring for the keys."""
        if isinstance(exclude_types, str):
            exclude_types = [t for t in exclude_types.split(',') if t.strip()]
        excluded = {t.strip() for t in exclude_types or ()}
        per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for rid, rec in records.items():
            qtype = (rec.get('meta') or {}).get('question_type', 'unknown')
            if qtype in excluded:
                continue
            truth = next(t['text'] for t in rec['targets'] if t.get('type') == 'text')
            pred = predictions.get(rid)
            text = pred.get('prediction') if pred is not None else None
            ok = isinstance(text, str) and text.strip().lower() == str(truth).strip().lower()
            per_type[qtype][0] += ok
            per_type[qtype][1] += 1
        out = {}
        for qtype in sorted(per_type):
            hits, total = per_type[qtype]
            out[f'accuracy/{qtype}'] = hits / total
        accs = [hits / total for hits, total in per_type.values()]
        correct = sum(hits for hits, _ in per_type.values())
        n = sum(total for _, total in per_type.values())
        out['AA'] = sum(accs) / len(accs) if accs else 0.0
        out['OA'] = correct / n if n else 0.0
        out['n'] = n
        out['n_missing'] = sum(1 for rid, rec in records.items() if rid not in predictions
                               and (rec.get('meta') or {}).get('question_type', 'unknown')
                               not in excluded)
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
