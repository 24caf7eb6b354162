"""EarthMind-Bench (Shu et al. 2025) multiple-choice questions on optical+SAR pairs.

Scored as the official ``evaluate_earthmindbench_mcq.py``: raw string equality
of the prediction and the answer, per annotation file and pooled.
"""
from __future__ import annotations

import os
from collections import defaultdict

from eov.heads.choice import ChoiceHead
from eov.registry import BENCHMARKS

from .base import BaseBenchmark, BenchmarkDataError, count_missing, read_json

_REQUIRED = ('file_name', 'question', 'answer')


@BENCHMARKS.register_module(name='earthmind_bench')
class EarthMindBench(BaseBenchmark):
    """EarthMind-Bench MCQ: one ``fusion`` record per question.

    Input: SRC is one annotation JSON file or a folder of them (all
    ``*.json``, or those whose name contains ``--split`` when it is given).
    Each file is a list of ``{"file_name", "question", "candidate": [options],
    "answer", "task_type"}``. Images are paired: ``<images>/rgb/img/<name>``
    and ``<images>/sar/img/<name>``, where ``<name>`` is ``file_name`` with
    ``.json`` replaced by ``.png`` as the official inference script does, and
    ``images`` defaults to SRC (the folder holding the JSON files).
    Entries without ``candidate`` options (open-ended questions, scored by a
    GPT judge officially) are skipped and counted in a note.

    Records: task ``choice``, modality ``fusion``, images
    ``[{rgb, sensor 'rgb', modality 'optical'}, {sar, sensor 'sar_8bit',
    modality 'sar'}]`` (the SAR images are 8-bit PNGs) with one ``<image>``
    placeholder; the human turn is the question followed by the options one
    a line (the official prompt); target ``{'type': 'choice', 'choices':
    candidate, 'answer': answer}``; ``meta`` ``{'file': <stem>, 'task_type'}``.

    Scoring: ``prediction == answer`` on the raw strings (no stripping, no
    case folding: ``'A'`` vs ``'A.'`` is wrong -- the official rule), keys
    ``accuracy`` (pooled), ``accuracy/<file stem>``, ``n/<file stem>``, ``n``,
    ``n_missing``. Strip end-of-turn tokens (the official script removes
    ``<|end|>``) before writing predictions.
    """

    name = 'earthmind_bench'
    task = 'choice'
    convert_options = {
        'images': 'image root holding rgb/img and sar/img (default: SRC, or its folder if '
                  'SRC is a file)',
        'rgb_dir': 'optical image folder under the image root (default: rgb/img)',
        'sar_dir': 'SAR image folder under the image root (default: sar/img)',
        'sar_sensor': "sensor of the SAR images (default: 'sar_8bit')",
    }
    metric_keys = ('accuracy', 'n', 'n_missing')

    def _files(self, src: str, split: str | None) -> list[str]:
        if os.path.isfile(src):
            return [src]
        files = sorted(f for f in os.listdir(src) if f.lower().endswith('.json'))
        if split:
            files = [f for f in files if split.lower() in f.lower()]
        if not files:
            raise BenchmarkDataError(f'{self.name}: no .json annotation files in {src}'
                                     + (f' with {split!r} in the name' if split else ''))
        return [os.path.join(src, f) for f in files]

    def iter_records(self, src, split=None, images=None, rgb_dir='rgb/img', sar_dir='sar/img',
                     sar_sensor='sar_8bit'):
        """Yield one choice record per multiple-choice question."""
        root = self.resolve_dir(src, images) if images else (
            src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src)))
        skipped = 0
        head = ChoiceHead()
        for path in self._files(src, split):
            data = read_json(path)
            if not isinstance(data, list):
                raise BenchmarkDataError(f'{path}: expected a JSON list of questions')
            stem = os.path.splitext(os.path.basename(path))[0]
            for k, item in enumerate(self.progress(data, os.path.basename(path))):
                where = f'{path}[{k}]'
                if not isinstance(item, dict):
                    raise BenchmarkDataError(f'{where}: expected an object')
                missing = [key for key in _REQUIRED if item.get(key) in (None, '')]
                if missing:
                    raise BenchmarkDataError(f'{where}: missing {", ".join(missing)}')
                options = item.get('candidate')
                if not options:
                    skipped += 1
                    continue
                if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                    raise BenchmarkDataError(f'{where}: "candidate" must be a list of strings')
                name = str(item['file_name']).replace('.json', '.png')
                # the choice head's canonical phrasing: the question, then the options
                # one a line; EarthMind's options already carry their letters ('A. 1')
                # and are kept as they are -- the official prompt
                question = head.question(question=item['question'], choices=options)
                yield {
                    'id': f'{stem}-{k}', 'task': 'choice', 'modality': 'fusion',
                    'images': [
                        {'path': self.image_path(os.path.join(root, rgb_dir, name)),
                         'sensor': 'rgb', 'modality': 'optical'},
                        {'path': self.image_path(os.path.join(root, sar_dir, name)),
                         'sensor': sar_sensor, 'modality': 'sar'}],
                    'conversations': self.conversation(self.prompt(question)),
                    'targets': [{'type': 'choice', 'choices': list(options),
                                 'answer': str(item['answer'])}],
                    'meta': {'file': stem, 'task_type': item.get('task_type'),
                             'source': where},
                }
        if skipped:
            self.note(f'skipped {skipped} entries without "candidate" options '
                      '(open-ended questions)')

    def score(self, records, predictions, serializer=None):
        """Raw string equality; see the class docstring for the keys."""
        per_file: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        correct = 0
        for rid, rec in records.items():
            answer = next(t['answer'] for t in rec['targets'] if t.get('type') == 'choice')
            pred = predictions.get(rid)
            ok = pred is not None and pred.get('prediction') == answer
            correct += ok
            stem = (rec.get('meta') or {}).get('file', '')
            per_file[stem][0] += ok
            per_file[stem][1] += 1
        n = len(records)
        out = {'accuracy': correct / n if n else 0.0}
        for stem in sorted(per_file):
            hits, total = per_file[stem]
            out[f'accuracy/{stem}'] = hits / total
            out[f'n/{stem}'] = total
        out['n'] = n
        out['n_missing'] = count_missing(records, predictions)
        return out
