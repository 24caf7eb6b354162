"""Serializer tokens in real tokenizers; the token-cost benchmark."""
import copy
import json

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from eov.processing.tokenizer import add_serializer_tokens, build_tokenizer
from eov.slis import LocTokenSerializer, QwenTextSerializer
from eov.processing.serializer_cost import build_english_bpe

from ..helpers import run_tool


def test_default_tokenizer_holds_every_loc_token_as_one_id():
    s = LocTokenSerializer(bins=1000)
    tok = build_tokenizer(None, serializer=s)
    text = s.encode([{'type': 'hbb', 'bbox': [1, 2, 999, 998]}], (1000, 1000))
    ids = tok(text, add_special_tokens=False)['input_ids']
    assert len(ids) == 6
    assert tok.convert_ids_to_tokens(ids) == ['<box>', '<loc_1>', '<loc_2>', '<loc_999>',
                                              '<loc_998>', '</box>']
    assert tok.decode(ids) == text


def test_adding_serializer_tokens_to_an_english_bpe_resizes_the_lm():
    tok = copy.deepcopy(build_english_bpe())
    s = LocTokenSerializer(bins=64)
    before = len(tok)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=before, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1))
    # the loc tokens are split into many pieces before they are added
    assert len(tok('<loc_63>', add_special_tokens=False)['input_ids']) > 1
    added = add_serializer_tokens(tok, s, model=model)
    assert added == len(s.special_tokens()) and len(tok) == before + added
    assert model.get_input_embeddings().num_embeddings == len(tok)
    assert model.get_output_embeddings().weight.shape[0] == len(tok)
    assert len(tok('<loc_63>', add_special_tokens=False)['input_ids']) == 1
    # idempotent, and the model runs on the new ids
    assert add_serializer_tokens(tok, s, model=model) == 0
    ids = torch.tensor([tok(s.encode([{'type': 'point', 'point': [3, 4]}], (64, 64)))['input_ids']])
    assert model(input_ids=ids).logits.shape[-1] == len(tok)


def test_english_bpe_is_deterministic_and_ordinary():
    tok = build_english_bpe()
    assert len(tok) == 8192
    ids = tok('The statement is executed for each item.', add_special_tokens=False)['input_ids']
    assert len(ids) <= 10                          # common English words are single tokens


def test_slis_benchmark_prints_json_lines(tmp_path):
    out = tmp_path / 'slis.jsonl'
    proc = run_tool(['tools/benchmark.py', 'slis', '--n', '20', '--min-seconds', '0.01',
                     '--serializers', 'LocTokenSerializer', 'QwenTextSerializer',
                     '--out', str(out)])
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2 * 5
    assert out.read_text().count('\n') == 10
    by = {(r['serializer'], r['geometry']): r for r in rows}
    loc_hbb = by['LocTokenSerializer', 'hbb']
    assert loc_hbb['tokens_per_object_tiny'] <= 6 and loc_hbb['tokens_per_object_english_bpe'] <= 6
    assert by['LocTokenSerializer', 'poly']['tokens_per_object_tiny'] == 2 + 2 * 8
    assert all(r['parse_rate'] == 1.0 and r['encode_objects_per_s'] > 0 for r in rows)
    # text coordinates cost more tokens than location tokens
    assert by['QwenTextSerializer', 'hbb']['tokens_per_object_english_bpe'] > 6


def test_benchmark_rejects_unknown_serializer():
    with pytest.raises(AssertionError, match='unknown serializer'):
        run_tool(['tools/benchmark.py', 'slis', '--serializers', 'Nope'])
