# A tiny EarthOneVision (~2M parameters) that trains on a laptop CPU in minutes:
# ViT (4 blocks, 128 wide, 16-px patches: 4x4 = 16 visual tokens per 64-px image)
# -> MultiLevelConcat over blocks 2 and 4
# -> Qwen2-shaped decoder (4 layers, 128 wide), eov's built-in tokenizer.
# 'tiny' models are built for real in the config tests; others on the meta device.
model_size = 'tiny'
image_size = 64
patch_size = 16

# SLIS serializer used by the model, the data pipeline and the metric. A child
# config swaps it in one line, e.g.
#   serializer = dict(_delete_=True, type='GeoChatTextSerializer')
serializer = dict(type='LocTokenSerializer', bins=32)
# None = eov's committed byte-level BPE tokenizer; or a local HF tokenizer dir.
tokenizer = None

model = dict(
    type='EarthOneVision',
    data_preprocessor=dict(type='BaseDataPreprocessor'),
    # '${...}': `--cfg-options image_size=128` reaches the ViT and the modalities alike
    vision=dict(type='TimmViT', img_size='${image_size}', patch_size='${patch_size}',
                embed_dim=128, depth=4, num_heads=4, class_token=False, out_indices=(1, 3),
                pos_embed_init='sincos'),
    aligner=dict(type='MultiLevelConcat'),
    language=dict(config=dict(
        model_type='qwen2', vocab_size=1024, hidden_size=128, intermediate_size=512,
        num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
        max_position_embeddings=512, tie_word_embeddings=True)),
    modalities='${modalities}',
    serializer='${serializer}',
    tokenizer='${tokenizer}',
    attention='sdpa',
    loc_label_sigma=1.0,
    loc_embed_init='sincos',
    max_new_tokens='auto',
)
