"""Engine: config loading, checkpoint safety, runner glue (hooks, PCMA stages)."""
from .checkpoint import allow_mmengine_checkpoints, load_checkpoint_safely
from .config import load_config, resolve_references
from .wrappers import EOVDistributedDataParallel

allow_mmengine_checkpoints()

__all__ = ['EOVDistributedDataParallel', 'allow_mmengine_checkpoints', 'load_checkpoint_safely', 'load_config',
           'resolve_references']
