"""Engine: configs, runners, strategies, kill-safe checkpoints, PCMA chains.

One module per concern, each saying what it holds in its docstring (README "Layout");
none imports another that imports it back. Model weights are :mod:`eov.models.weights`'s.
"""
from eov.models.weights import allow_mmengine_checkpoints, load_checkpoint_safely

from .checkpoint_hook import EOVCheckpointHook
from .config import load_config, resolve_references
from .image_tokens import fill_config_image_tokens, fill_image_tokens, model_image_tokens
from .loops import EOVIterTrainLoop
from .resume import latest_good_checkpoint
from .runner import EOVRunner
from .sample_log import SampleLogHook
from .schedulers import OneCycleLRPerGroup
from .wrappers import EOVDistributedDataParallel, EOVFullyShardedDataParallel, EOVOptimWrapper

allow_mmengine_checkpoints()

__all__ = ['EOVCheckpointHook', 'EOVDistributedDataParallel', 'EOVFullyShardedDataParallel',
           'EOVOptimWrapper', 'EOVRunner', 'OneCycleLRPerGroup', 'allow_mmengine_checkpoints',
           'fill_config_image_tokens', 'fill_image_tokens', 'latest_good_checkpoint',
           'load_checkpoint_safely', 'load_config', 'model_image_tokens',
           'resolve_references', 'SampleLogHook', 'EOVIterTrainLoop']
