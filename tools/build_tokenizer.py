"""Train eov's tiny default tokenizer (byte-level BPE) on the project's own text.

Writes ``eov/assets/tokenizer/tokenizer.json``. The result is committed, so
this only needs re-running when the corpus changes::

    python tools/build_tokenizer.py [--vocab-size 640]
"""
import argparse
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

from eov.datasets.synth import COLORS, SHAPES  # noqa: E402
from eov.heads import GroundingHead  # noqa: E402
from eov.processing.tokenizer import CONTROL_TOKENS, DEFAULT_TOKENIZER_DIR  # noqa: E402


def corpus_lines():
    """Yield the training text: the committed corpus and every task prompt."""
    with open(os.path.join(DEFAULT_TOKENIZER_DIR, 'corpus.txt'), encoding='utf-8') as f:
        yield from (line.strip() for line in f if line.strip())
    for _ in range(20):  # the role names of the conversation format
        yield 'user\nassistant\nuser assistant'
    for template in GroundingHead.templates:
        for color, shape in itertools.product(COLORS, SHAPES):
            yield template.format(phrase=f'{color} {shape}')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--vocab-size', type=int, default=640)
    args = p.parse_args()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size, special_tokens=list(CONTROL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    out = os.path.join(DEFAULT_TOKENIZER_DIR, 'tokenizer.json')
    tok.save(out)
    print(f'wrote {out} ({tok.get_vocab_size()} tokens)')


if __name__ == '__main__':
    main()
