"""BigEarthNet v1.0 (Sentinel-2) multi-label classification in the 19-class nomenclature.

Scored with EarthMind's ``ms_eval.py`` token recall (NLTK tokens, as the
script) and with proper multi-label precision / recall / F1 over the 19
classes.
"""
from __future__ import annotations

import os
import re

import numpy as np

from eov.heads.classification import ClassificationHead
from eov.modalities.multispectral import BIGEARTHNET_BANDS
from eov.registry import BENCHMARKS

from .base import BaseBenchmark, BenchmarkDataError, count_missing, read_json

#: The 19 classes of BigEarthNet-19, in their official order.
BEN19_CLASSES = (
    'Urban fabric',
    'Industrial or commercial units',
    'Arable land',
    'Permanent crops',
    'Pastures',
    'Complex cultivation patterns',
    'Land principally occupied by agriculture, with significant areas of natural vegetation',
    'Agro-forestry areas',
    'Broad-leaved forest',
    'Coniferous forest',
    'Mixed forest',
    'Natural grassland and sparsely vegetated areas',
    'Moors, heathland and sclerophyllous vegetation',
    'Transitional woodland, shrub',
    'Beaches, dunes, sands',
    'Inland wetlands',
    'Coastal wetlands',
    'Inland waters',
    'Marine waters',
)

#: CORINE Land Cover level-3 names of BigEarthNet v1.0 (43 classes) -> BigEarthNet-19.
#: The standard mapping of Sumbul et al., "BigEarthNet-MM: A Large-Scale, Multimodal,
#: Multilabel Benchmark Archive for Remote Sensing Image Classification and
#: Retrieval", IEEE GRSM 2021 (``label_conversion`` of ``label_indices.json`` in the
#: authors' BigEarthNet-19 model repositories). ``None``: the class has no
#: 19-class counterpart and is dropped.
BEN43_TO_19 = {
    'Continuous urban fabric': 'Urban fabric',
    'Discontinuous urban fabric': 'Urban fabric',
    'Industrial or commercial units': 'Industrial or commercial units',
    'Road and rail networks and associated land': None,
    'Port areas': None,
    'Airports': None,
    'Mineral extraction sites': None,
    'Dump sites': None,
    'Construction sites': None,
    'Green urban areas': None,
    'Sport and leisure facilities': None,
    'Non-irrigated arable land': 'Arable land',
    'Permanently irrigated land': 'Arable land',
    'Rice fields': 'Arable land',
    'Vineyards': 'Permanent crops',
    'Fruit trees and berry plantations': 'Permanent crops',
    'Olive groves': 'Permanent crops',
    'Pastures': 'Pastures',
    'Annual crops associated with permanent crops': 'Permanent crops',
    'Complex cultivation patterns': 'Complex cultivation patterns',
    'Land principally occupied by agriculture, with significant areas of natural vegetation':
        'Land principally occupied by agriculture, with significant areas of natural vegetation',
    'Agro-forestry areas': 'Agro-forestry areas',
    'Broad-leaved forest': 'Broad-leaved forest',
    'Coniferous forest': 'Coniferous forest',
    'Mixed forest': 'Mixed forest',
    'Natural grassland': 'Natural grassland and sparsely vegetated areas',
    'Moors and heathland': 'Moors, heathland and sclerophyllous vegetation',
    'Sclerophyllous vegetation': 'Moors, heathland and sclerophyllous vegetation',
    'Transitional woodland/shrub': 'Transitional woodland, shrub',
    'Beaches, dunes, sands': 'Beaches, dunes, sands',
    'Bare rock': None,
    'Sparsely vegetated areas': 'Natural grassland and sparsely vegetated areas',
    'Burnt areas': None,
    'Inland marshes': 'Inland wetlands',
    'Peatbogs': 'Inland wetlands',
    'Salt marshes': 'Coastal wetlands',
    'Salines': 'Coastal wetlands',
    'Intertidal flats': None,
    'Water courses': 'Inland waters',
    'Water bodies': 'Inland waters',
    'Coastal lagoons': 'Marine waters',
    'Estuaries': 'Marine waters',
    'Sea and ocean': 'Marine waters',
}

#: The Sentinel-2 patch folder inside torchgeo's BigEarthNet root (``BigEarthNet-S2-v1.0.tar.gz``).
S2_DIR = 'BigEarthNet-v1.0'
_SPLIT_HEADERS = ('name', 'patch', 'patch_name', 'patch_id', 's2_name', 'patch_s2')
_WORD_RE = re.compile(r'[a-z]+')


def to_19_classes(labels_43: list[str], where: str = '', names_19: bool = False) -> list[str]:
    """Map 43-class CORINE names to BigEarthNet-19 names (official order, no repeats).

    With ``names_19`` (reBEN's labels) a 19-class name stands for itself, and a run of
    whitespace in a name counts as one space.

    Raises:
        BenchmarkDataError: for a name that is not one of the 43 (nor of the 19).
    """
    out = set()
    for label in labels_43:
        if names_19:
            label = ' '.join(str(label).split())
        if names_19 and label in BEN19_CLASSES:
            out.add(label)
        elif label not in BEN43_TO_19:
            raise BenchmarkDataError(f'{where}: unknown BigEarthNet label {label!r}')
        elif BEN43_TO_19[label] is not None:
            out.add(BEN43_TO_19[label])
    return [c for c in BEN19_CLASSES if c in out]


def earthmind_tokens(text: str) -> list[str]:
    """The tokens EarthMind's ``ms_eval.py`` compares: NLTK ``word_tokenize`` of the lower-cased,
    stripped text.

    ``word_tokenize`` splits the text into sentences with NLTK's Punkt model
    (the downloadable ``punkt_tab`` data), then runs NLTK's Treebank word
    tokenizer on each sentence. eov runs the same NLTK code with *empty*
    Punkt parameters, which needs no data and never downloads: a sentence
    ends after every ``.``/``?``/``!`` word that Punkt's English model does
    not list as an abbreviation (or as a collocation, an initial or a
    number). The tokens differ from the model's only around such listed
    words (``e.g.``, ``dr.``, ...); none is a word of the 19 class names,
    so :func:`token_recall` against a BigEarthNet reference equals
    ``ms_eval.py``'s (checked against the English ``punkt_tab`` model on
    random answers; see ``docs/evaluation.md``). The word tokenizer is the
    installed NLTK's: 3.8 and 3.9 (``setup.py``'s range) agree; 3.10 splits a
    leading apostrophe off its word.
    """
    from nltk.tokenize import word_tokenize
    text = text.strip().lower()
    return [t for sentence in _punkt().tokenize(text)
            for t in word_tokenize(sentence, preserve_line=True)]


_PUNKT = []


def _punkt():
    """NLTK's Punkt sentence splitter with empty parameters (no data file)."""
    if not _PUNKT:
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
        _PUNKT.append(PunktSentenceTokenizer(PunktParameters()))
    return _PUNKT[0]


def token_recall(reference: str, candidate: str) -> float:
    """EarthMind ``ms_eval.py``'s ``evaluate_token_recall``, bit for bit.

    ``len(set(ref) & set(cand)) / len(ref)`` over :func:`earthmind_tokens`:
    the denominator counts the reference tokens **with repeats and
    punctuation** (``Coniferous forest, Mixed forest`` has 5 tokens: the
    comma and the second ``forest`` count), and ``broad-leaved`` is one
    token. No common token (or an empty reference) gives 0.0.
    """
    ref = earthmind_tokens(reference)
    common = set(ref) & set(earthmind_tokens(candidate))
    if not common:
        return 0.0
    return len(common) / len(ref)


def word_recall(reference: str, candidate: str) -> float:
    """``|ref ∩ cand| / |ref|`` over the *sets* of lower-cased ``[a-z]+`` words.

    The score of key ``recall_words``.

    A punctuation- and repeat-free variant of :func:`token_recall`.
    """
    ref = set(_WORD_RE.findall(reference.lower()))
    if not ref:
        return 0.0
    return len(ref & set(_WORD_RE.findall(candidate.lower()))) / len(ref)


def parse_classes(text: str) -> list[str]:
    """The 19-class names found in ``text`` (case-insensitive substring match).

    Whitespace runs count as one space on both sides; a class is found when
    its full name appears anywhere in the answer.
    """
    text = ' '.join(text.lower().split())
    return [c for c in BEN19_CLASSES if c.lower() in text]


@BENCHMARKS.register_module(name='bigearthnet_v1')
class BigEarthNetV1(BaseBenchmark):
    """BigEarthNet v1.0 Sentinel-2 patches -> 19-class multi-label records.

    Input: the folder of patch folders, ``<patch>/<patch>_B01.tif`` ...
    ``<patch>_B12.tif`` (12 bands incl. ``B8A``, no ``B10``) and
    ``<patch>/<patch>_labels_metadata.json`` (``labels``: 43-class names) --
    SRC itself, or ``SRC/BigEarthNet-v1.0/`` (torchgeo's root folder). With
    ``--split S`` the patches are those listed in the split CSV (first column
    a patch name, one a line): ``S.csv`` (the BigEarthNet-19 split files) or
    ``bigearthnet-S.csv`` (torchgeo's names), looked up in ``splits``
    (default: SRC, the patch folder and its parent), or ``split_file``;
    without, every patch folder. Patches whose labels all map to no 19-class
    name are skipped (noted).

    Records: task ``classification``, modality ``multispectral``, one image
    entry whose ``path`` lists the 12 band files in BigEarthNet order with
    ``bands`` naming them and sensor ``sentinel2_l2a``; target ``{'type':
    'labels', 'labels': [19-class names]}``; ``meta.labels_43`` keeps the
    original labels.

    Scoring: the reference text is the 19-class names joined by ``', '``.
    ``recall_token`` = :func:`token_recall` (EarthMind ``ms_eval.py``)
    summed in record order and divided by the number of records, as the
    script averages; ``recall_words`` the same with :func:`word_recall`.
    The classes of a text answer are read with :func:`parse_classes` (a
    ``labels`` list in the prediction line is used as is, and joined by
    ``', '`` for the recalls), then ``micro_precision``, ``micro_recall``,
    ``micro_f1``, ``macro_f1`` (all 19 classes averaged; a class never true
    nor predicted counts 0, as scikit-learn's ``zero_division=0``),
    ``sample_f1`` (per-sample F1 averaged), ``n``, ``n_missing``. Missing
    answers predict nothing and score recall 0.
    """

    name = 'bigearthnet_v1'
    task = 'classification'
    convert_options = {
        'splits': 'folder of the split CSV files (default: SRC, the patch folder, its parent)',
        'split_file': 'split CSV of patch names (default: <splits>/<split>.csv or '
                      '<splits>/bigearthnet-<split>.csv)',
    }
    metric_keys = ('recall_token', 'recall_words', 'micro_precision', 'micro_recall', 'micro_f1',
                   'macro_f1', 'sample_f1', 'n', 'n_missing')

    @staticmethod
    def patch_root(src: str) -> str:
        """The folder of patch folders: SRC, or ``SRC/BigEarthNet-v1.0`` (torchgeo's layout)."""
        nested = os.path.join(src, S2_DIR)
        if os.path.isdir(nested) and not _has_patches(src):
            return nested
        return src

    def _split_path(self, src: str, root: str, split: str, splits: str | None) -> str:
        """The split CSV: ``<split>.csv`` or ``bigearthnet-<split>.csv``, first folder first."""
        if splits:
            folders = [self.resolve_dir(src, splits)]
        else:
            folders = list(dict.fromkeys([os.path.abspath(src), os.path.abspath(root),
                                          os.path.dirname(os.path.abspath(root))]))
        names = [f'{split}.csv', f'bigearthnet-{split}.csv']
        tried = []
        for folder in folders:
            for name in names:
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    return path
                tried.append(path)
        raise BenchmarkDataError(f'{self.name}: split file not found (looked for '
                                 f'{", ".join(tried)}; pass -o splits=DIR or -o split_file=...)')

    def _patches(self, src: str, split: str | None, splits: str | None,
                 split_file: str | None) -> list[tuple[str, str]]:
        """``(patch name, where it was listed)`` pairs."""
        root = self.patch_root(src)
        if split is None and split_file is None:
            names = sorted(d for d in os.listdir(root)
                           if os.path.isfile(os.path.join(root, d, f'{d}_labels_metadata.json')))
            if not names:
                raise BenchmarkDataError(f'{self.name}: no patch folders (<patch>/<patch>_'
                                         f'labels_metadata.json) in {root}')
            return [(n, os.path.join(root, n)) for n in names]
        if split_file:
            path = split_file if os.path.isfile(split_file) else os.path.join(src, split_file)
            if not os.path.isfile(path):
                raise BenchmarkDataError(f'{self.name}: split file not found: {path}')
        else:
            path = self._split_path(src, root, split, splits)
        out = []
        with open(path, encoding='utf-8-sig') as f:
            for lineno, line in enumerate(f, 1):
                name = line.strip().split(',')[0].strip().strip('"')
                if not name or (lineno == 1 and name.lower() in _SPLIT_HEADERS):
                    continue
                out.append((name, f'{path}:{lineno}'))
        return out

    def patch_record(self, head, folder: str, patch: str, classes: list[str],
                     meta: dict) -> dict:
        """The classification record of one patch folder (12 band files, BigEarthNet order).

        The question is one of the classification head's multi-label phrasings,
        chosen per patch.
        """
        bands = [self.image_path(os.path.join(folder, f'{patch}_{b}.tif'))
                 for b in BIGEARTHNET_BANDS]
        question = head.question(seed=sum(patch.encode()), variant='multi')
        return self.record(patch, 'multispectral',
                           [{'path': bands, 'bands': list(BIGEARTHNET_BANDS),
                             'sensor': 'sentinel2_l2a'}], question,
                           [{'type': 'labels', 'labels': classes}], meta)

    def iter_records(self, src, split=None, **options):
        """Yield one classification record per patch of :meth:`patches` with a 19-class label."""
        head = ClassificationHead(classes=BEN19_CLASSES)
        empty = 0
        for folder, patch, classes, meta in self.patches(src, split, **options):
            if not classes:
                empty += 1
                continue
            yield self.patch_record(head, folder, patch, classes, meta)
        if empty:
            self.note(f'skipped {empty} patches with no label in the 19-class nomenclature')

    def patches(self, src, split=None, splits=None, split_file=None):
        """Yield ``(folder, patch, 19-class labels, meta)`` of every patch of the split."""
        if not os.path.isdir(src):
            raise BenchmarkDataError(f'{self.name}: SRC must be the folder of patch folders, '
                                     f'got {src}')
        root = self.patch_root(src)
        for patch, listed in self.progress(self._patches(src, split, splits, split_file),
                                           'patches'):
            folder = os.path.join(root, patch)
            meta_path = os.path.join(folder, f'{patch}_labels_metadata.json')
            if not os.path.isfile(meta_path):
                raise BenchmarkDataError(f'{listed}: patch {patch!r}: {meta_path} not found')
            meta = read_json(meta_path)
            labels = meta.get('labels') if isinstance(meta, dict) else None
            if not isinstance(labels, list):
                raise BenchmarkDataError(f'{meta_path}: no "labels" list')
            yield folder, patch, to_19_classes(labels, meta_path), {'labels_43': list(labels),
                                                                    'source': listed}

    def score(self, records, predictions, serializer=None):
        """Token recall and multi-label metrics; see the class docstring."""
        index = {c: i for i, c in enumerate(BEN19_CLASSES)}
        lower = {c.lower(): c for c in BEN19_CLASSES}
        n = len(records)
        truth = np.zeros((n, len(BEN19_CLASSES)), bool)
        pred = np.zeros_like(truth)
        recalls, words = [], []
        for i, (rid, rec) in enumerate(records.items()):
            labels = next(t['labels'] for t in rec['targets'] if t.get('type') == 'labels')
            for c in labels:
                truth[i, index[c]] = True
            line = predictions.get(rid)
            if line is None:
                recalls.append(0.0)
                words.append(0.0)
                continue
            if isinstance(line.get('labels'), list):
                found = [lower[s.strip().lower()] for s in line['labels']
                         if s.strip().lower() in lower]
                text = ', '.join(line['labels'])
            else:
                text = line.get('prediction') if isinstance(line.get('prediction'), str) else ''
                found = parse_classes(text)
            for c in found:
                pred[i, index[c]] = True
            reference = ', '.join(labels)
            recalls.append(token_recall(reference, text))
            words.append(word_recall(reference, text))
        tp = (truth & pred).sum(0).astype(float)
        fp = (~truth & pred).sum(0).astype(float)
        fn = (truth & ~pred).sum(0).astype(float)
        micro_p = _ratio(tp.sum(), tp.sum() + fp.sum())
        micro_r = _ratio(tp.sum(), tp.sum() + fn.sum())
        per_class_f1 = [_ratio(2 * a, 2 * a + b + c) for a, b, c in zip(tp, fp, fn)]
        inter = (truth & pred).sum(1)
        sizes = truth.sum(1) + pred.sum(1)
        sample_f1 = [_ratio(2 * k, s) for k, s in zip(inter, sizes)]
        return {
            'recall_token': _mean_in_order(recalls),
            'recall_words': _mean_in_order(words),
            'micro_precision': micro_p,
            'micro_recall': micro_r,
            'micro_f1': _ratio(2 * micro_p * micro_r, micro_p + micro_r),
            'macro_f1': float(np.mean(per_class_f1)),
            'sample_f1': float(np.mean(sample_f1)) if n else 0.0,
            'n': n,
            'n_missing': count_missing(records, predictions),
        }


def _mean_in_order(values: list[float]) -> float:
    """``sum / count``, summed left to right as ``ms_eval.py`` (``recall_sum += score``)."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values) if values else 0.0


def _has_patches(folder: str) -> bool:
    """Whether ``folder`` directly holds a ``<patch>/<patch>_labels_metadata.json`` folder."""
    with os.scandir(folder) as entries:
        return any(e.is_dir() and os.path.isfile(os.path.join(e.path,
                                                              f'{e.name}_labels_metadata.json'))
                   for e in entries)


def _ratio(num, den) -> float:
    return float(num) / float(den) if den else 0.0
