"""SARLANG-1M VQA (Wei et al. 2025), scored as the official ``Evaluate_VQA.py``."""
from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from typing import Callable

from eov.heads.vqa import VQAHead
from eov.registry import BENCHMARKS

from .base import BaseBenchmark, BenchmarkDataError, count_missing, read_json

#: Accepted column / key names (matched case-insensitively), in order of preference.
IMAGE_KEYS = ('image', 'img_path', 'image_path', 'img', 'image_name', 'img_name', 'filename',
              'file_name', 'image_id', 'path')
QUESTION_KEYS = ('question', 'query', 'q')
ANSWER_KEYS = ('answer', 'ground_truth', 'gt', 'gt_answer', 'answers', 'label', 'a')
TYPE_KEYS = ('type', 'question_type', 'qtype', 'category', 'task_type')
ID_KEYS = ('id', 'question_id', 'qid')
#: Ground truths the official script compares by exact equality.
CLOSED_ANSWERS = frozenset(['yes', 'no'] + [str(i) for i in range(100)])
_EXTENSIONS = ('.csv', '.json', '.jsonl')


def _strip(text: str) -> str:
    text = text.strip()
    if text.endswith('.'):
        text = text[:-1].rstrip()
    return text


def _truthy(verdict) -> bool:
    if isinstance(verdict, str):
        return verdict.strip().lower() in ('1', 'yes', 'true', 'match', 'correct')
    return bool(verdict)


def sarlang_match(question: str, truth: str, prediction: str,
                  judge: Callable | None = None) -> tuple[bool, bool]:
    """One answer under SARLANG's rule.

    1. Both lower-cased; correct if the truth is a substring of the prediction
       (so truth ``'2'`` matches ``'12'`` -- the official behaviour).
    2. Otherwise, if the truth is ``yes``/``no`` or an integer ``0``-``99``,
       correct only on exact equality (both stripped of surrounding
       whitespace and a trailing period).
    3. Otherwise the official script asks GPT-4o-mini; here ``judge(question,
       truth, prediction)`` (all lower-cased) decides, and without a judge
       the answer counts as wrong. A judge may return a bool, a number or
       text (``'1'``/``'0'`` as GPT answers).

    Returns:
        ``(correct, needs_judge)``.
    """
    truth, prediction = truth.lower(), prediction.lower()
    if truth in prediction:
        return True, False
    closed = _strip(truth)
    if closed in CLOSED_ANSWERS:
        return closed == _strip(prediction), False
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

    Input (SRC is a file, or a folder whose ``.csv``/``.json``/``.jsonl``
    files are all read -- only those whose name contains ``--split`` when it
    is given):

    - CSV with a header row, or a JSON list / JSONL of objects, one
      question each. Column names are matched case-insensitively; accepted:
      image ``image``, ``img_path``, ``image_path``, ``img``, ``image_name``,
      ``img_name``, ``filename``, ``file_name``, ``image_id``, ``path``;
      question ``question``, ``query``, ``q``; answer ``answer``,
      ``ground_truth``, ``gt``, ``gt_answer``, ``answers``, ``label``, ``a``;
      optional type ``type``, ``question_type``, ``qtype``, ``category``,
      ``task_type``; optional id ``id``, ``question_id``, ``qid`` (default
      ``<file stem>-<row>``).
    - LLaVA-style objects (``image`` + ``conversations`` of human/gpt turns)
      are accepted too: one record per question/answer pair.

    Image paths are resolved against ``images`` (default: the annotation
    file's folder). Records: task ``vqa``, modality ``sar``, sensor
    ``sar_8bit`` (SARLANG's images are 8-bit display-scaled SAR PNG/JPEGs),
    target ``{'type': 'text', 'text': answer}``.

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
        'images': 'image root that image paths are relative to (default: the folder of '
                  'each annotation file)',
        'sensor': "sensor name of the images (default: 'sar_8bit')",
    }
    metric_keys = ('accuracy', 'n_needs_judge', 'n_judged_correct', 'accuracy_upper_bound',
                   'n', 'n_missing')

    # -- conversion -----------------------------------------------------------
    def _files(self, src: str, split: str | None) -> list[str]:
        if os.path.isfile(src):
            return [src]
        files = sorted(f for f in os.listdir(src) if f.lower().endswith(_EXTENSIONS))
        if split:
            files = [f for f in files if split.lower() in os.path.splitext(f)[0].lower()]
        if not files:
            raise BenchmarkDataError(
                f'{self.name}: no .csv/.json/.jsonl annotation files in {src}'
                + (f' with {split!r} in the name' if split else ''))
        return [os.path.join(src, f) for f in files]

    @staticmethod
    def _rows(path: str) -> list[tuple[str, dict]]:
        """``(where, row)`` pairs of one annotation file."""
        if path.lower().endswith('.csv'):
            with open(path, encoding='utf-8-sig', newline='') as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames:
                    raise BenchmarkDataError(f'{path}: empty CSV (a header row is needed)')
                header = {h.strip().lower() for h in reader.fieldnames if h}
                for what, keys in (('image', IMAGE_KEYS), ('question', QUESTION_KEYS),
                                   ('answer', ANSWER_KEYS)):
                    if not header & set(keys):
                        raise BenchmarkDataError(
                            f'{path}: no {what} column; header is {reader.fieldnames}, '
                            f'accepted names: {", ".join(keys)}')
                return [(f'{path}:{reader.line_num}', dict(row)) for row in reader]
        if path.lower().endswith('.jsonl'):
            rows = []
            with open(path, encoding='utf-8') as f:
                for lineno, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append((f'{path}:{lineno}', json.loads(line)))
                        except json.JSONDecodeError as err:
                            raise BenchmarkDataError(f'{path}:{lineno}: invalid JSON '
                                                     f'({err.msg})') from None
            return rows
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
        conv = row.get('conversations')
        if isinstance(conv, list):
            pairs = []
            for k in range(0, len(conv) - 1, 2):
                human, gpt = conv[k], conv[k + 1]
                if not (isinstance(human, dict) and isinstance(gpt, dict)):
                    raise BenchmarkDataError(f'{where}: conversations must hold objects')
                question = str(human.get('value') or '').replace('<image>', '').strip()
                pairs.append((f'-{k // 2}' if len(conv) > 2 else '', question,
                              gpt.get('value')))
            return pairs
        return [('', _pick(row, QUESTION_KEYS), _pick(row, ANSWER_KEYS))]

    def iter_records(self, src, split=None, images=None, sensor='sar_8bit'):
        """Yield one VQA record per question."""
        seen: dict[str, str] = {}
        head = VQAHead()
        for path in self._files(src, split):
            root = (self.resolve_dir(src, images) if images
                    else os.path.dirname(os.path.abspath(path)))
            stem = os.path.splitext(os.path.basename(path))[0]
            rows = self._rows(path)
            for index, (where, row) in enumerate(self.progress(rows, os.path.basename(path))):
                if not isinstance(row, dict):
                    raise BenchmarkDataError(f'{where}: expected an object, got {row!r}')
                image = _pick(row, IMAGE_KEYS)
                if image is None:
                    raise BenchmarkDataError(f'{where}: no image (accepted keys: '
                                             f'{", ".join(IMAGE_KEYS)})')
                base_id = _pick(row, ID_KEYS)
                base_id = str(base_id) if base_id is not None else f'{stem}-{index}'
                qtype = _pick(row, TYPE_KEYS)
                image_path = self.image_path(os.path.join(root, str(image)))
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
                    if rid in seen:
                        raise BenchmarkDataError(f'{where}: id {rid!r} already used at '
                                                 f'{seen[rid]}')
                    seen[rid] = where
                    meta = {'source': where}
                    if qtype is not None:
                        meta['question_type'] = str(qtype)
                    yield {
                        'id': rid, 'task': 'vqa', 'modality': 'sar',
                        'images': [{'path': image_path, 'sensor': sensor}],
                        # the vqa head's canonical phrasing is the question itself,
                        # so the judge sees SARLANG's own question
                        'conversations': self.conversation(
                            self.prompt(head.question(question=question))),
                        'targets': [{'type': 'text', 'text': answer.strip()}],
                        'meta': meta,
                    }

    # -- scoring --------------------------------------------------------------
    def score(self, records, predictions, serializer=None, judge: Callable | None = None):
        """Score with :func:`sarlang_match`; see the class docstring for the keys."""
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
        for qtype in sorted(by_type):
            hits, total = by_type[qtype]
            out[f'accuracy/{qtype}'] = hits / total
        out['n'] = n
        out['n_missing'] = count_missing(records, predictions)
        return out


def _text_target(rec: dict) -> str:
    for target in rec.get('targets', []):
        if target.get('type') == 'text':
            return str(target['text'])
    raise ValueError(f"record {rec.get('id')}: no 'text' target")
