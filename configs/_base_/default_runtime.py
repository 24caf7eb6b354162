# Runtime settings shared by every eov config.
default_scope = 'eov'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to 'gloo' when CUDA is not available.
    dist_cfg=dict(backend='nccl'),
    # CPU training: torch threads of the main process = its cores minus one per data
    # worker, so training and loading never oversubscribe the machine
    # (eov.engine.eov_runner.cpu_threads; docs/benchmarks.md has both ways measured).
    cpu_threads='auto',
)

# Used by `--launcher pytorch`: DDP that also runs on CPU processes (gloo).
# find_unused_parameters: a batch need not hold every modality, so some input
# adapters may get no gradient in a step.
model_wrapper_cfg = dict(type='eov.EOVDistributedDataParallel', find_unused_parameters=True)

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
resume = False
randomness = dict(seed=0, deterministic=False)

# eov's Runner: visual-token counts from the model, PCMA stage freezing, strict loads.
runner_type = 'EOVRunner'
