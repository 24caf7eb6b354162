"""Engine: config loading, checkpoint safety, runner glue (hooks, PCMA stages)."""
from .checkpoint import allow_mmengine_checkpoints, load_checkpoint_safely
from .config import load_config, resolve_references
from .eov_runner import EOVRunner, fill_config_image_tokens, fill_image_tokens, model_image_tokens
from .safe_checkpoints import EOVCheckpointHook, latest_good_checkpoint
from .schedulers import OneCycleLRPerGroup
from .wrappers import EOVDistributedDataParallel

allow_mmengine_checkpoints()

__all__ = ['EOVCheckpointHook', 'EOVDistributedDataParallel', 'EOVRunner', 'OneCycleLRPerGroup',
           'allow_mmengine_checkpoints', 'fill_config_image_tokens', 'fill_image_tokens', 'load_checkpoint_safely',
           'latest_good_checkpoint', 'load_config', 'model_image_tokens',
           'resolve_references']
