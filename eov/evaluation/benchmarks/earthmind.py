"""EarthMind-Bench (Shu et al. 2025) multiple-choice questions on optical+SAR pairs.

Scored as the official ``evaluate_earthmindbench_mcq.py`` of shuyansy/EarthMind:
raw string equality of the prediction and the answer, per annotation file and
pooled, over the questions that have a prediction and an answer.
"""
from __future__ import annotations

import os
from collections import defaultdict

from eov.heads.choice import ChoiceHead
from eov.registry import BENCHMARKS

from .base import BaseBenchmark, BenchmarkDataError, count_missing, read_json

#: Keys the official inference script reads with ``item[key]`` (a KeyError there).
_REQUIRED = ('file_name', 'question', 'answer')
#: Image roots tried under the download root, in order (the HF release: ``img/test``).
_IMAGE_ROOTS = (os.path.join('img', 'test'), 'img', '')


@BENCHMARKS.register_module(name='earthmind_bench')
class EarthMindBench(BaseBenchmark):
    """EarthMind-Bench MCQ: one ``fusion`` record per question.

    Input, SRC one of (see ``docs/evaluation.md``):

    - the download root of ``sy1998/EarthMind-Bench``: annotation files
      ``json/*.json``, images ``img/test/rgb/img/<name>`` and
      ``img/test/sar/img/<name>``;
    - a folder of annotation JSON files (images under it: ``rgb/img``,
      ``sar/img``), or one annotation file.

    Each file is a list of ``{"file_name", "question", "candidate": [options],
    "answer", "task_type"}`` (``--split``: only files whose name holds it).
    ``<name>`` is ``file_name`` with ``.json`` replaced by ``.png`` as the
    official ``infer_earthmindbench_mcq.py`` does. The image root is the
    ``images`` option, else the first of ``img/test``, ``img`` and the
    folder itself (for a file: its folder, or the root above a ``json/``
    folder) that holds ``rgb_dir``. Entries without ``candidate`` options
    (open-ended questions, GPT-judged officially) and entries whose answer is
    ``null`` (never scored officially) are skipped and counted in notes; an
    answer that is not text (a number, ...) is kept: the target holds it as
    text and ``meta.answer_raw`` the value itself, which the official
    comparison never finds equal to a text prediction.

    Records: task ``choice``, modality ``fusion``, images
    ``[{rgb, sensor 'rgb', modality 'optical'}, {sar, sensor 'sar_8bit',
    modality 'sar'}]`` (the SAR images are 8-bit PNGs) with one ``<image>``
    placeholder; the human turn is the question followed by the options one
    a line (the official prompt); target ``{'type': 'choice', 'choices':
    candidate, 'answer': answer}``; ``meta`` ``{'file': <stem>, 'task_type'}``.

    Scoring, the official loop: a question counts when its prediction and its
    answer are not ``None``, and is right when ``prediction == answer`` on the
    raw values (no stripping, no case folding: ``'A'`` vs ``'A.'`` is wrong).
    A record without a prediction line, or with ``"prediction": null``, is
    left out (as the official loop leaves out questions whose images failed
    to load, and ``null`` predictions). Keys: ``accuracy`` (pooled over the
    counted questions), ``accuracy/<file stem>`` and ``n/<file stem>``
    (counted questions of the file), ``n`` (records), and what eov counts
    apart: ``n_scored`` (the official denominator), ``n_missing`` (no
    prediction line), ``n_null`` (``null`` prediction), ``n_nonstring_answer``
    (counted questions whose answer is not text: always wrong officially),
    ``accuracy_all`` (right answers over all records: missing and ``null``
    predictions count as wrong). Strip end-of-turn tokens (the official script
    removes ``<|end|>``) before writing predictions.
    """

    name = 'earthmind_bench'
    task = 'choice'
    convert_options = {
        'images': 'image root holding rgb/img and sar/img (default: img/test under the '
                  'download root, or the annotation folder)',
        'annotations': 'annotation folder (default: json/ under the download root, else SRC)',
        'rgb_dir': 'optical image folder under the image root (default: rgb/img)',
        'sar_dir': 'SAR image folder under the image root (default: sar/img)',
        'sar_sensor': "sensor of the SAR images (default: 'sar_8bit')",
    }
    metric_keys = ('accuracy', 'n', 'n_scored', 'n_missing', 'n_null', 'n_nonstring_answer',
                   'accuracy_all')

    def _files(self, src: str, split: str | None, annotations: str | None) -> list[str]:
        if annotations:
            folder = self.given_folder(src, annotations, 'annotation')
        elif os.path.isfile(src):
            return [src]
        else:
            folder = os.path.join(src, 'json') if os.path.isdir(os.path.join(src, 'json')) \
                else src
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith('.json'))
        if split:
            files = [f for f in files if split.lower() in f.lower()]
        if not files:
            raise BenchmarkDataError(f'{self.name}: no .json annotation files in {folder}'
                                     + (f' with {split!r} in the name' if split else ''))
        return [os.path.join(folder, f) for f in files]

    def _image_root(self, src: str, images: str | None, first_file: str, rgb_dir: str) -> str:
        if images:
            return self.resolve_dir(src, images)
        bases = [src] if os.path.isdir(src) else []
        folder = os.path.dirname(os.path.abspath(first_file))
        bases += [folder] + ([os.path.dirname(folder)]
                             if os.path.basename(folder) == 'json' else [])
        for base in bases:
            for sub in _IMAGE_ROOTS:
                if os.path.isdir(os.path.join(base, sub, rgb_dir)):
                    return os.path.join(base, sub)
        return bases[0]

    def iter_records(self, src, split=None, images=None, annotations=None, rgb_dir='rgb/img',
                     sar_dir='sar/img', sar_sensor='sar_8bit'):
        """Yield one choice record per multiple-choice question."""
        files = self._files(src, split, annotations)
        root = self._image_root(src, images, files[0], rgb_dir)
        no_options: dict[str, int] = {}
        null_answers: dict[str, int] = {}
        head = ChoiceHead()
        for path in files:
            data = read_json(path)
            if not isinstance(data, list):
                raise BenchmarkDataError(f'{path}: expected a JSON list of questions')
            stem = os.path.splitext(os.path.basename(path))[0]
            for k, item in enumerate(self.progress(data, os.path.basename(path))):
                where = f'{path}[{k}]'
                if not isinstance(item, dict):
                    raise BenchmarkDataError(f'{where}: expected an object')
                missing = [key for key in _REQUIRED if key not in item]
                missing += [key for key in ('file_name', 'question')
                            if key in item and item[key] in (None, '')]
                if missing:
                    raise BenchmarkDataError(f'{where}: missing {", ".join(missing)}')
                options = item.get('candidate')
                if not options:
                    no_options[stem] = no_options.get(stem, 0) + 1
                    continue
                if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                    raise BenchmarkDataError(f'{where}: "candidate" must be a list of strings')
                answer = item['answer']
                if answer is None:       # the official loop never counts it
                    null_answers[stem] = null_answers.get(stem, 0) + 1
                    continue
                name = str(item['file_name']).replace('.json', '.png')
                # the choice head's canonical phrasing: the question, then the options
                # one a line; EarthMind's options already carry their letters ('A. 1')
                # and are kept as they are -- the official prompt
                question = head.question(question=item['question'], choices=options)
                meta = {'file': stem, 'task_type': item.get('task_type'), 'source': where}
                if not isinstance(answer, str):
                    meta['answer_raw'] = answer
                yield self.record(
                    f'{stem}-{k}', 'fusion',
                    [{'path': self.image_path(os.path.join(root, rgb_dir, name)),
                      'sensor': 'rgb', 'modality': 'optical'},
                     {'path': self.image_path(os.path.join(root, sar_dir, name)),
                      'sensor': sar_sensor, 'modality': 'sar'}], question,
                    [{'type': 'choice', 'choices': list(options), 'answer': str(answer)}], meta)
        for counts, why in ((no_options, 'without "candidate" options (open-ended questions)'),
                            (null_answers, 'whose answer is null (the official loop never '
                                           'scores them)')):
            if counts:
                self.note(f'skipped {sum(counts.values())} entries {why}: '
                          + ', '.join(f'{s} {c}' for s, c in sorted(counts.items())))

    def score(self, records, predictions, serializer=None):
        """The official loop of ``evaluate_earthmindbench_mcq.py``; keys in the class docstring."""
        per_file: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        correct = n_null = n_nonstring = 0
        for rid, rec in records.items():
            meta = rec.get('meta') or {}
            counts = per_file[meta.get('file', '')]   # every file gets its keys
            if 'answer_raw' in meta:
                gt = meta['answer_raw']
            else:
                gt = next(t['answer'] for t in rec['targets'] if t.get('type') == 'choice')
            pred = predictions.get(rid)
            if pred is None:
                continue         # no line: not in the official result file
            text = pred.get('prediction')
            # evaluate_earthmindbench_mcq.py: counted if pred and gt are not None,
            # right if pred == gt (raw values)
            if text is None:
                n_null += 1
                continue
            if gt is None:
                continue
            ok = text == gt
            n_nonstring += not isinstance(gt, str)
            correct += ok
            counts[0] += ok
            counts[1] += 1
        n = len(records)
        scored = sum(total for _, total in per_file.values())
        out = {'accuracy': correct / scored if scored else 0.0}
        for stem in sorted(per_file):
            hits, total = per_file[stem]
            out[f'accuracy/{stem}'] = hits / total if total else 0.0
            out[f'n/{stem}'] = total
        out['n'] = n
        out['n_scored'] = scored
        out['n_missing'] = count_missing(records, predictions)
        out['n_null'] = n_null
        out['n_nonstring_answer'] = n_nonstring
        out['accuracy_all'] = correct / n if n else 0.0
        return out
