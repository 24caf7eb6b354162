"""SARLANG-1M VQA (Wei et al. 2025), scored as the official ``Evaluate_VQA.py``."""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from typing import Callable

from eov.heads.vqa import VQAHead
from eov.registry import BENCHMARKS
from eov.utils.io import iter_jsonl

from .base import BaseBenchmark, BenchmarkDataError, OptionError, count_missing, read_json

#: Accepted column / key names (matched case-insensitively), in order of preference.
IMAGE_KEYS = ('image', 'img_path', 'image_path', 'img', 'image_name', 'img_name', 'filename',
              'file_name', 'image_id', 'path', 'images')
QUESTION_KEYS = ('question', 'query', 'q')
ANSWER_KEYS = ('answer', 'ground_truth', 'gt', 'gt_answer', 'answers', 'label', 'a')
TYPE_KEYS = ('type', 'question_type', 'qtype', 'category', 'task_type', 'answer_type',
             'application')
ID_KEYS = ('id', 'question_id', 'qid')
#: Ground truths the official script compares by exact equality.
CLOSED_ANSWERS = frozenset(['yes', 'no'] + [str(i) for i in range(100)])


def _truthy(verdict) -> bool:
    if isinstance(verdict, str):
        return verdict.strip().lower() in ('1', 'yes', 'true', 'match', 'correct')
    return bool(verdict)


def sarlang_match(question: str, truth: str, prediction: str,
                  judge: Callable | None = None) -> tuple[bool, bool]:
    """One answer under SARLANG's rule (``Evaluate_VQA.py`` of Jimmyxichen/SARLANG-1M).

    The routing matches the official script bit for bit: both strings are
    lower-cased and nothing else (no stripping of spaces or punctuation).

    1. Correct if the truth is a substring of the prediction (so truth
       ``'2'`` matches ``'12'``, truth ``'yes'`` matches ``'yes.'``).
    2. Otherwise, if the truth is exactly ``yes``/``no`` or an integer
       ``0``-``99`` written as digits, correct only if the prediction equals
       it (``'2.'`` or ``' yes'`` as a truth is *not* such an answer).
    3. Otherwise the official script asks GPT-4o-mini; here ``judge(question,
       truth, prediction)`` (all lower-cased) decides, and without a judge
       the answer counts as wrong. A judge may return a bool, a number or
       text (``'1'``/``'0'`` as GPT answers).

    Returns:
        ``(correct, needs_judge)``.
    """
    # Evaluate_VQA.py: ground_truth = row[3].lower(); predicted = row[1].lower()
    truth, prediction = truth.lower(), prediction.lower()
    if truth in prediction:
        return True, False
    if truth in CLOSED_ANSWERS:
        return truth == prediction, False
    if judge is None:
        return False, True
    return _truthy(judge(question.lower(), truth, prediction)), True


def _pick(row: dict, keys: tuple[str, ...]):
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for key in keys:
        if key in lowered and lowered[key] not in (None, ''):
            return lowered[key]
    return None


@BENCHMARKS.register_module(name='sarlang_vqa')
class SarlangVQA(BaseBenchmark):
    """SARLANG-1M VQA: 8-bit SAR images with questions and short answers.

    Input, SRC one of (see ``docs/evaluation.md``):

    - the dataset root as the README of Jimmyxichen/SARLANG-1M lays it out:
      images in ``SARimages/``, annotations anywhere under ``Text/VQA/``
      (``SARVQA1_test``, ``SARVQA2_test``, ...). Without ``--split`` the
      files whose name holds ``test`` are read;
    - a folder of annotation files (all of them, or those whose name holds
      ``--split``), or one annotation file.

    The release ships every split both as CSV and as JSON: one format is
    read, never both (``format``: ``auto`` = CSV when the folder has CSV
    files, else JSON, else JSONL), and the files left out are named in a
    note. A CSV needs a header row; JSON is a list of objects (or an object
    holding one under ``data``/``questions``/``annotations``/``items``), or
    JSONL. Column names are matched case-insensitively (:data:`IMAGE_KEYS`,
    :data:`QUESTION_KEYS`, :data:`ANSWER_KEYS`, :data:`TYPE_KEYS`,
    :data:`ID_KEYS`); LLaVA rows (``conversations`` of human/gpt turns) and
    ShareGPT rows (``messages`` of user/assistant turns, ``images`` list)
    give one record per question/answer pair. Record ids are the row's id
    (default ``<file stem>-<row>``); an id seen before gets ``#2``, ``#3``,
    ... (counted in a note), never an error.

    Images: ``images`` option if given; at the dataset root the first of
    ``<root>/SARimages/<path>``, ``<root>/<path>``, ``<annotation
    folder>/<path>`` that exists; otherwise ``<annotation folder>/<path>``.

    Records: task ``vqa``, modality ``sar``, sensor ``sar_8bit``, target
    ``{'type': 'text', 'text': answer}`` with the answer exactly as stored
    (the official scorer lower-cases it and strips nothing).

    Scoring (:func:`sarlang_match`): keys ``accuracy``, ``n_needs_judge``
    (answers the official script would send to GPT), ``n_judged_correct``,
    ``accuracy_upper_bound`` (if every judged case were right),
    ``accuracy/<type>`` when records carry a question type, ``n``,
    ``n_missing``. Pass ``judge=callable`` to :meth:`score` (``--judge
    module:function`` in ``tools/evaluate.py``) to resolve open answers.
    """

    name = 'sarlang_vqa'
    task = 'vqa'
    convert_options = {
        'images': 'image root that image paths are relative to (default: SARimages/ at the '
                  'dataset root, else the folder of each annotation file)',
        'annotations': 'annotation folder (default: Text/VQA at the dataset root, else SRC)',
        'format': "annotation format to read: auto (CSV if present, else JSON, else JSONL), "
                  "csv, json or jsonl -- the release ships each split as CSV and JSON",
        'sensor': "sensor name of the images (default: 'sar_8bit')",
    }
    metric_keys = ('accuracy', 'n_needs_judge', 'n_judged_correct', 'accuracy_upper_bound',
                   'n', 'n_missing')

    # -- conversion -----------------------------------------------------------
    @staticmethod
    def dataset_root(src: str) -> str | None:
        """``src`` when it is a SARLANG-1M root (``Text/VQA/`` inside), else ``None``."""
        if os.path.isdir(os.path.join(src, 'Text', 'VQA')):
            return src
        return None

    def _files(self, src: str, split: str | None, annotations: str | None,
               fmt: str) -> list[str]:
        """The annotation files to read: one format only (see the class docstring)."""
        if fmt not in ('auto', 'csv', 'json', 'jsonl'):
            raise OptionError(f"{self.name}: format must be auto, csv, json or jsonl, got "
                              f"{fmt!r}")
        if os.path.isfile(src) and not annotations:
            return [src]
        root = self.dataset_root(src)
        if annotations:
            folder = self.given_folder(src, annotations, 'annotation')
        else:
            folder = os.path.join(root, 'Text', 'VQA') if root else src
        if root and split is None:
            split = 'test'
            self.note("SRC is the dataset root: reading the 'test' annotation files "
                      '(pass --split to choose others)')
        found: dict[str, list[str]] = defaultdict(list)
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                stem, ext = os.path.splitext(name)
                ext = ext.lower().lstrip('.')
                if ext in ('csv', 'json', 'jsonl') and \
                        (not split or split.lower() in stem.lower()):
                    found[ext].append(os.path.join(dirpath, name))
        if fmt == 'auto':
            fmt = next((f for f in ('csv', 'json', 'jsonl') if found[f]), 'csv')
        files = found[fmt]
        if not files:
            present = ', '.join(f'{len(v)} .{k}' for k, v in sorted(found.items()) if v)
            raise BenchmarkDataError(
                f'{self.name}: no .{fmt} annotation files in {folder}'
                + (f' with {split!r} in the name' if split else '')
                + (f' (found {present}; pass -o format=... to read those)' if present else ''))
        others = sorted(os.path.relpath(p, folder) for k, v in found.items() if k != fmt
                        for p in v)
        self.note(f'read the {fmt.upper()} annotation files '
                  f'{", ".join(os.path.relpath(p, folder) for p in files)} in {folder}'
                  + (f'; not read (the same data in another format): {", ".join(others)}'
                     if others else ''))
        return files

    @staticmethod
    def _rows(path: str) -> list[tuple[str, dict]]:
        """``(where, row)`` pairs of one annotation file."""
        if path.lower().endswith('.csv'):
            try:
                with open(path, encoding='utf-8-sig', newline='') as f:
                    reader = csv.DictReader(f)
                    if not reader.fieldnames:
                        raise BenchmarkDataError(f'{path}: empty CSV (a header row is needed)')
                    header = {h.strip().lower() for h in reader.fieldnames if h}
                    for what, keys in (('image', IMAGE_KEYS), ('question', QUESTION_KEYS),
                                       ('answer', ANSWER_KEYS)):
                        if not header & set(keys):
                            raise BenchmarkDataError(
                                f'{path}:1: no {what} column; header is {reader.fieldnames}, '
                                f'accepted names: {", ".join(keys)} (or read the JSON copy '
                                'with -o format=json)')
                    return [(f'{path}:{reader.line_num}', dict(row)) for row in reader]
            except UnicodeDecodeError as err:
                raise BenchmarkDataError(f'{path}: not UTF-8 text ({err})') from None
            except csv.Error as err:
                raise BenchmarkDataError(f'{path}: malformed CSV ({err})') from None
        if path.lower().endswith('.jsonl'):
            return [(f'{path}:{lineno}', row) for lineno, row in
                    iter_jsonl(path, error=BenchmarkDataError, objects=False)]
        data = read_json(path)
        if isinstance(data, dict):
            for key in ('data', 'questions', 'annotations', 'items'):
                if isinstance(data.get(key), list):
                    data = data[key]
                    break
        if not isinstance(data, list):
            raise BenchmarkDataError(f'{path}: expected a JSON list of question objects')
        return [(f'{path}[{i}]', row) for i, row in enumerate(data)]

    @staticmethod
    def _qa_pairs(row: dict, where: str) -> list[tuple[str, str, str | None]]:
        """``(suffix, question, answer)`` of a row (several for a conversation)."""
        for key, speaker, text in (('conversations', 'from', 'value'),
                                   ('messages', 'role', 'content')):
            turns = row.get(key)
            if not isinstance(turns, list):
                continue
            if not all(isinstance(t, dict) for t in turns):
                raise BenchmarkDataError(f'{where}: {key} must hold objects')
            turns = [t for t in turns if str(t.get(speaker, '')).lower() != 'system']
            pairs = []
            for k in range(0, len(turns) - 1, 2):
                question = str(turns[k].get(text) or '').replace('<image>', '').strip()
                pairs.append((f'-{k // 2}' if len(turns) > 2 else '', question,
                              turns[k + 1].get(text)))
            return pairs
        return [('', _pick(row, QUESTION_KEYS), _pick(row, ANSWER_KEYS))]

    def _image(self, image: str, ann_dir: str, images: str | None, root: str | None,
               src: str) -> str:
        """The image path of a row, relative to the output (see the class docstring)."""
        if images:
            return self.image_path(os.path.join(self.resolve_dir(src, images), image))
        if os.path.isabs(image):
            return self.image_path(image)
        candidates = ([os.path.join(root, 'SARimages', image), os.path.join(root, image)]
                      if root else []) + [os.path.join(ann_dir, image)]
        found = next((c for c in candidates if os.path.isfile(c)), None)
        if found is None and self._check_images and len(candidates) > 1:
            raise BenchmarkDataError(f'{self.name}: image file not found: {image} (looked '
                                     f'for {", ".join(candidates)}; pass check_images=false '
                                     'to convert without images)')
        return self.image_path(found or candidates[0])

    def iter_records(self, src, split=None, images=None, annotations=None, format='auto',
                     sensor='sar_8bit'):
        """Yield one VQA record per question."""
        root = self.dataset_root(src) if os.path.isdir(src) else None
        files = self._files(src, split, annotations, str(format).lower())
        seen: dict[str, int] = {}
        repeated = 0
        head = VQAHead()
        for path in files:
            ann_dir = os.path.dirname(os.path.abspath(path))
            stem = os.path.splitext(os.path.basename(path))[0]
            rows = self._rows(path)
            for index, (where, row) in enumerate(self.progress(rows, os.path.basename(path))):
                if not isinstance(row, dict):
                    raise BenchmarkDataError(f'{where}: expected an object, got {row!r}')
                image = _pick(row, IMAGE_KEYS)
                if isinstance(image, list):
                    image = image[0] if image else None
                if image is None:
                    raise BenchmarkDataError(f'{where}: no image (accepted keys: '
                                             f'{", ".join(IMAGE_KEYS)})')
                base_id = _pick(row, ID_KEYS)
                base_id = str(base_id) if base_id is not None else f'{stem}-{index}'
                qtype = _pick(row, TYPE_KEYS)
                image_path = self._image(str(image), ann_dir, images, root, src)
                for suffix, question, answer in self._qa_pairs(row, where):
                    if not isinstance(question, str) or not question.strip():
                        raise BenchmarkDataError(f'{where}: no question (accepted keys: '
                                                 f'{", ".join(QUESTION_KEYS)})')
                    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
                        answer = str(answer)
                    if not isinstance(answer, str) or not answer.strip():
                        raise BenchmarkDataError(f'{where}: no answer (accepted keys: '
                                                 f'{", ".join(ANSWER_KEYS)})')
                    rid = base_id + suffix
                    if rid in seen:      # a repeated id: '7' -> '7#2', '7#3', ...
                        repeated += 1
                        k = seen[rid] + 1
                        while f'{rid}#{k}' in seen:
                            k += 1
                        seen[rid] = k
                        rid = f'{rid}#{k}'
                    seen.setdefault(rid, 1)
                    meta = {'source': where}
                    if qtype is not None:
                        meta['question_type'] = str(qtype)
                    # the vqa head's canonical phrasing is the question itself, so the
                    # judge sees SARLANG's own question; the answer as stored:
                    # Evaluate_VQA.py lower-cases it, nothing else
                    yield self.record(rid, 'sar', [{'path': image_path, 'sensor': sensor}],
                                      head.question(question=question),
                                      [{'type': 'text', 'text': answer}], meta)
        if repeated:
            self.note(f'{repeated} rows repeat an id seen before; they were given the id '
                      "with '#2', '#3', ... appended")

    # -- scoring --------------------------------------------------------------
    def score(self, records, predictions, serializer=None, judge: Callable | None = None):
        """Score with :func:`sarlang_match`; see the class docstring for the keys.

        A ``null`` prediction is the empty answer (an empty cell of the
        official result CSV: routed like any other answer); a record without
        a prediction line is wrong and never judged.
        """
        correct = needs_judge = judged_correct = 0
        by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for rid, rec in records.items():
            truth = _text_target(rec)
            question = rec['conversations'][0]['value'].replace('<image>', '').strip()
            pred = predictions.get(rid)
            ok = False
            if pred is not None:
                text = pred.get('prediction')
                ok, judged = sarlang_match(question, truth, text if isinstance(text, str)
                                           else '', judge)
                needs_judge += judged
                judged_correct += judged and ok
            correct += ok
            qtype = (rec.get('meta') or {}).get('question_type')
            if qtype is not None:
                by_type[qtype][0] += ok
                by_type[qtype][1] += 1
        n = len(records)
        out = {
            'accuracy': correct / n if n else 0.0,
            'n_needs_judge': needs_judge,
            'n_judged_correct': judged_correct,
            'accuracy_upper_bound': (correct - judged_correct + needs_judge) / n if n else 0.0,
        }
        out.update((f'accuracy/{qtype}', hits / total)
                   for qtype, (hits, total) in sorted(by_type.items()))
        out['n'] = n
        out['n_missing'] = count_missing(records, predictions)
        return out


def _text_target(rec: dict) -> str:
    for target in rec.get('targets', []):
        if target.get('type') == 'text':
            return str(target['text'])
    raise ValueError(f"record {rec.get('id')}: no 'text' target")
