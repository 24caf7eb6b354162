"""EOVProcessor: one owner of tokenizer, serializer, chat format and <image> expansion."""
import pytest
import torch

from eov.datasets.transforms import TokenizeConversation
from eov.processing import CHAT_TEMPLATE, IGNORE_INDEX, EOVProcessor, ProcessorError

SERIALIZER = dict(type='LocTokenSerializer', bins=32)
MESSAGES = [('user', '<image>\nWhere is the red circle?'),
            ('assistant', '<box><loc_1><loc_2><loc_3><loc_4></box>')]


@pytest.fixture(scope='module')
def processor():
    return EOVProcessor(serializer=SERIALIZER, image_tokens={'optical': 5, 'sar': 7})


def test_encode_expands_images_per_modality_and_labels_answers_only(processor):
    out = processor.encode(MESSAGES, modality='sar', source='rec-1')
    ids, labels = out['input_ids'].tolist(), out['labels'].tolist()
    assert ids.count(processor.image_token_id) == 7
    assert processor.encode(MESSAGES, modality='optical')['input_ids'].tolist().count(
        processor.image_token_id) == 5
    answer = [t for t in labels if t != IGNORE_INDEX]
    # the answer: every loc token one id, then <|im_end|>
    assert answer[-1] == processor.eos_token_id
    assert processor.tokenizer.decode(answer[:-1]) == MESSAGES[1][1]
    assert len(answer) == 1 + 4 + 1 + 1   # <box>, 4 locs, </box>, end


def test_generation_prompt_ends_with_assistant_header(processor):
    out = processor.encode_prompt('<image>\nDescribe the scene.', modality='optical')
    text = processor.tokenizer.decode(out['input_ids'][-3:])
    assert text.endswith('<|im_start|>assistant\n')
    assert (out['labels'] == IGNORE_INDEX).all()


def test_chat_text_equals_the_hf_chat_template(processor):
    hf = processor.tokenizer
    rendered = hf.apply_chat_template([dict(role=r, content=c) for r, c in MESSAGES],
                                      chat_template=CHAT_TEMPLATE, tokenize=False,
                                      add_generation_prompt=True)
    assert rendered == processor.chat_text(MESSAGES, add_generation_prompt=True)


def test_errors_name_the_record(processor):
    with pytest.raises(ProcessorError, match='rec-9: no messages'):
        processor.encode([], source='rec-9')
    with pytest.raises(ProcessorError, match="rec-9: no image_tokens for modality 'video'"):
        processor.encode(MESSAGES, modality='video', source='rec-9')
    with pytest.raises(ProcessorError, match='rec-9: .* exceed max_length=10'):
        EOVProcessor(serializer=SERIALIZER, image_tokens=4, max_length=10).encode(
            MESSAGES, source='rec-9')
    with pytest.raises(ProcessorError, match="image_tokens='auto'"):
        EOVProcessor(serializer=SERIALIZER).encode(MESSAGES, modality='optical')
    with pytest.raises(ProcessorError, match='no assistant answer'):
        processor.encode([('user', 'hello')])


def test_decode_stops_at_the_end_token(processor):
    ids = processor.tokenizer('<box><loc_3>', add_special_tokens=False)['input_ids']
    tail = processor.tokenizer('ignored', add_special_tokens=False)['input_ids']
    assert processor.decode(ids + [processor.eos_token_id] + tail) == '<box><loc_3>'
    assert processor.decode([processor.pad_token_id] + ids) == '<box><loc_3>'


def test_save_and_load_give_the_same_ids(processor, tmp_path):
    processor.save_pretrained(str(tmp_path))
    loaded = EOVProcessor.from_pretrained(str(tmp_path))
    assert len(loaded) == len(processor)
    assert loaded.image_tokens == {'optical': 5, 'sar': 7}
    assert loaded.serializer.bins == 32
    for modality in ('optical', 'sar'):
        a = processor.encode(MESSAGES, modality=modality)
        b = loaded.encode(MESSAGES, modality=modality)
        assert torch.equal(a['input_ids'], b['input_ids'])
        assert torch.equal(a['labels'], b['labels'])
    assert loaded.tokenizer.chat_template == CHAT_TEMPLATE
    with pytest.raises(FileNotFoundError, match='processor_config.json'):
        EOVProcessor.from_pretrained(str(tmp_path / 'nothing'))


def test_pipeline_and_model_share_the_processor_format(tiny_model):
    """TokenizeConversation and the model's own processor give identical ids."""
    counts = dict(tiny_model.processor.image_tokens)
    assert counts == {m: tiny_model.num_image_tokens(modality=m) for m in tiny_model.adapters}
    transform = TokenizeConversation(tokenizer=dict(path=None,
                                                    serializer=tiny_model.processor.serializer_cfg),
                                     image_tokens=counts)
    modality = next(iter(counts))
    out = transform.transform(dict(messages=MESSAGES, modality=modality, source='x'))
    ref = tiny_model.processor.encode(MESSAGES, modality=modality)
    assert torch.equal(out['input_ids'], ref['input_ids'])
