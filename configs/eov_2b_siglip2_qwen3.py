# Earth-OneVision's reported shape (~2B): a SigLIP-2 so400m vision tower (NaFlex, 16-px
# patches) and a Qwen3-1.7B language model, on the same data / runtime pieces as eov_2b.py.
#   SigLIP-2 so400m: 27 layers, 1152 wide; features of layers 9 / 18 / 27 for FGVLA
#   -> MultiLevelConcat with 2x2 pixel shuffle (512 px: 32x32 patches -> 256 tokens per image)
#   -> Qwen3-1.7B (28 layers, 2048 wide, GQA 16/8 heads, head_dim 128, tied embeddings).
# Without weights it builds from these configs with random init (on the meta device in the
# tests, parameter count printed); with LOCAL directories (never downloaded) it loads them:
#   python tools/train.py configs/eov_2b_siglip2_qwen3.py --cfg-options \
#       siglip2_path=/models/siglip2-so400m-patch16-naflex qwen3_path=/models/Qwen3-1.7B \
#       tokenizer=/models/Qwen3-1.7B
_base_ = ['eov_2b.py']
image_size = 512
patch_size = 16
# local model directories (save_pretrained layout); None = the architecture below, random
siglip2_path = None
qwen3_path = None
model = dict(
    vision=dict(
        _delete_=True, type='HFVisionTower', path='${siglip2_path}', out_indices=(8, 17, 26),
        config=dict(model_type='siglip2_vision_model', hidden_size=1152,
                    intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                    patch_size='${patch_size}', num_patches=256, num_channels=3,
                    hidden_act='gelu_pytorch_tanh', layer_norm_eps=1e-6)),
    language=dict(
        _delete_=True, pretrained='${qwen3_path}',
        config=dict(model_type='qwen3', vocab_size=151936, hidden_size=2048,
                    intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                    num_key_value_heads=8, head_dim=128, hidden_act='silu',
                    max_position_embeddings=40960, rms_norm_eps=1e-6,
                    rope_theta=1000000.0, tie_word_embeddings=True)),
)
