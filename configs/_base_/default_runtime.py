# Runtime settings shared by every eov config.
default_scope = 'eov'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to 'gloo' when CUDA is not available.
    dist_cfg=dict(backend='nccl'),
    # CPU training: torch threads of the main process = its cores minus one per data
    # worker, so training and loading never oversubscribe the machine
    # (eov.engine.runner.cpu_threads; docs/benchmarks.md has both ways measured).
    cpu_threads='auto',
)

# How training is distributed, and its numerics, in ONE place (eov.engine.strategies;
# README "Training on many GPUs"). The micro-batch is train_dataloader.batch_size (per
# process and step); accumulation is derived from global_batch_size; optim_wrapper must
# not restate clipping, accumulation or precision.
#   type: 'ddp' (also 1 process, CPU processes via gloo) | 'fsdp' (PyTorch FSDP2) |
#         'deepspeed' (ZeRO via MMEngine, `pip install 'eov[deepspeed]'`)
# DDP's find_unused_parameters (default True): a batch need not hold every modality,
# so some input adapters may get no gradient in a step.
strategy = dict(
    type='ddp',
    precision='fp32',             # 'fp32' | 'bf16' | 'fp16' (CUDA only)
    global_batch_size=None,       # samples per optimizer step; None: batch_size x processes
    grad_clip=1.0,                # max gradient norm; None: no clipping
    activation_checkpointing=False,
)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # kill-safe: written atomically, old ones removed only after the new one is complete
    checkpoint=dict(type='EOVCheckpointHook', by_epoch=False, interval=400, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

log_processor = dict(type='LogProcessor', by_epoch=False, window_size=20)
log_level = 'INFO'
load_from = None
# `load_from` loads strictly: weights that do not fit the model are one error naming the
# file, the counts and a changed vocabulary. To start from a related model's weights,
# allow a partial load (every skipped weight is logged; a resumed run never loads partially):
#   load_from_partial = dict(_delete_=True, allow_missing=True, allow_unexpected=True,
#                            allow_mismatched=True, min_matched_fraction=0.5)
# (_delete_=True: this default is None, and MMEngine merges a child dict only into a dict)
# (True = those defaults; eov.engine.config.partial_settings, eov.models.weights.load_weights).
load_from_partial = None
resume = False
randomness = dict(seed=0, deterministic=False)

# eov's Runner: visual-token counts from the model, PCMA stage freezing, strict loads.
runner_type = 'EOVRunner'
