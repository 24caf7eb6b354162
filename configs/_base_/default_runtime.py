# Runtime settings shared by every eov config.
default_scope = 'eov'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to 'gloo' when CUDA is not available.
    dist_cfg=dict(backend='nccl'),
)

# Used by `--launcher pytorch`: DDP that also runs on CPU processes (gloo).
# find_unused_parameters: a batch need not hold every modality, so some input
# adapters may get no gradient in a step.
model_wrapper_cfg = dict(type='eov.EOVDistributedDataParallel', find_unused_parameters=True)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

log_processor = dict(type='LogProcessor', by_epoch=False, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
