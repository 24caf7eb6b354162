# The ~1.9B EarthOneVision on one node of 8 GPUs with PyTorch FSDP2 (fully sharded).
#   torchrun --nproc-per-node 8 tools/train.py configs/eov_2b_fsdp_8gpu.py --launcher pytorch
# Global batch: 8 GPUs x 4 samples x 8 accumulation = 256 samples per optimizer step
# (train_cfg.max_iters counts micro-steps, as MMEngine's iterations do: 8 per step).
# Same command on N nodes (README "Training on many GPUs"): the accumulation is derived
# again from global_batch_size, so the optimizer sees 256 samples per step either way.
_base_ = ['eov_2b.py']
train_dataloader = dict(batch_size=4)
strategy = dict(type='fsdp', precision='bf16', global_batch_size=256, grad_clip=1.0,
                activation_checkpointing=True, reshard_after_forward=True)
