# The full-size EarthOneVision (~1.9B parameters):
#   ViT-L/14 at 448 px (24 blocks, 1024 wide, 32x32 patches), features of blocks 8/16/24
#   -> MultiLevelConcat with 2x2 pixel shuffle (32x32 -> 16x16 = 256 tokens per image)
#   -> a Qwen2.5-1.5B-shaped decoder (28 layers, 1536 wide, GQA 12/2 heads).
# Without local weights everything starts from random init (nothing is ever downloaded).
# To start from pretrained parts, point at LOCAL files, e.g. in a child config:
#   model = dict(
#       language=dict(_delete_=True, pretrained='/path/to/local/Qwen2.5-1.5B'),
#       vision=dict(checkpoint='/path/to/vit_large_patch14_448.safetensors'))
#   tokenizer = '/path/to/local/Qwen2.5-1.5B'     # the LM's own tokenizer directory
# `pretrained` takes precedence over `config`; the ViT checkpoint must match this
# architecture (class token, 32x32 position grid at 448 px), see eov/models/vision.py.
# 'tiny' models are built for real in the config tests; this one on the meta device.
model_size = '2b'
image_size = 448
patch_size = 14

# SLIS serializer: 1000 location bins per axis (paper scale).
serializer = dict(type='LocTokenSerializer', bins=1000)
# Tokenizer: None = eov's small committed byte-level BPE (enough to build, test and
# smoke-train this model offline); for real training give the LM's local tokenizer dir.
# Either way the LM keeps its 151936-row embedding table (resize_embeddings='grow'
# below): Qwen's table is padded beyond its tokenizer, so it is only grown, never
# shrunk, and grows only when the tokenizer plus the serializer's special tokens
# outnumber it (the Qwen tokenizer plus 1000 <loc_*> tokens does).
tokenizer = None

model = dict(
    type='EarthOneVision',
    data_preprocessor=dict(type='BaseDataPreprocessor'),
    vision=dict(type='TimmViT', model_name=None, img_size='${image_size}',
                patch_size='${patch_size}', embed_dim=1024, depth=24, num_heads=16,
                mlp_ratio=4.0, class_token=True, out_indices=(7, 15, 23),
                pos_embed_init='sincos'),
    aligner=dict(type='MultiLevelConcat', compress=dict(type='pixel_shuffle', factor=2)),
    language=dict(config=dict(
        model_type='qwen2', vocab_size=151936, hidden_size=1536, intermediate_size=8960,
        num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
        hidden_act='silu', rms_norm_eps=1e-6, max_position_embeddings=32768,
        rope_theta=1000000.0, tie_word_embeddings=True)),
    modalities='${modalities}',
    serializer='${serializer}',
    tokenizer='${tokenizer}',
    resize_embeddings='grow',
    # fastest packed backend that runs here (flash_varlen on CUDA bf16, else sdpa)
    attention='auto',
    loc_label_sigma=1.0,
    loc_embed_init='sincos',
    max_new_tokens='auto',
)
