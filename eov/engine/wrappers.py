"""Model wrappers for distributed training."""
from __future__ import annotations

from mmengine.model import MMDistributedDataParallel

from eov.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class EOVDistributedDataParallel(MMDistributedDataParallel):
    """MMEngine's DDP wrapper, also usable on CPU processes (gloo backend).

    MMEngine's Runner always passes ``device_ids=[LOCAL_RANK]``, which PyTorch
    rejects for CPU modules; this wrapper passes ``device_ids`` only when the
    module lives on a GPU, so ``torchrun ... --launcher pytorch`` works on a
    laptop as on a GPU node.

    Args:
        module: The model.
        **kwargs: ``DistributedDataParallel`` arguments.
    """

    def __init__(self, module, **kwargs):
        if next(module.parameters()).device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
