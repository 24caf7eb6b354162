# The ~1.9B EarthOneVision on one node of 8 GPUs with DeepSpeed ZeRO-2 (optimizer state
# and gradients sharded), through MMEngine's DeepSpeedStrategy.
#   pip install 'eov[deepspeed]'
#   torchrun --nproc-per-node 8 tools/train.py configs/eov_2b_zero2_8gpu.py --launcher pytorch
# Global batch: 8 GPUs x 4 samples x 8 accumulation = 256 samples per optimizer step.
# DeepSpeed writes its own checkpoint folders (not eov's kill-safe files) and does not run
# PCMA chains; eov_2b_fsdp_8gpu.py has neither limit.
_base_ = ['eov_2b.py']
train_dataloader = dict(batch_size=4)
strategy = dict(type='deepspeed', zero_stage=2, precision='bf16', global_batch_size=256,
                grad_clip=1.0, activation_checkpointing=True)
