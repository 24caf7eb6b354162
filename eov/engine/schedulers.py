"""Learning-rate schedules that keep per-module learning-rate multipliers.

MMEngine's ``OneCycleLR`` sets every parameter group's peak to the one
``eta_max`` it is given, so the ``lr_mult`` of ``paramwise_cfg.custom_keys``
(which a PCMA stage's ``lr_mult`` becomes) is silently lost.
:class:`OneCycleLRPerGroup` scales the peak of each group by that group's
multiplier, read from the optimizer as built (its learning rate over the
optimizer's base rate); without multipliers it is MMEngine's schedule.
"""
from __future__ import annotations

from mmengine.optim.scheduler import OneCycleLR

from eov.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class OneCycleLRPerGroup(OneCycleLR):
    """``OneCycleLR`` whose peak, start and end rates keep each group's ``lr_mult``.

    Args:
        optimizer: The optimizer or optimizer wrapper (built with its groups).
        eta_max: Peak learning rate of a group with multiplier 1, or one peak
            per group (used as given).
        **kwargs: As MMEngine's ``OneCycleLR``.
    """

    def __init__(self, optimizer, eta_max: float | list | tuple = 0, **kwargs):
        base = getattr(optimizer, 'optimizer', optimizer).defaults.get('lr')
        if not isinstance(eta_max, (list, tuple)) and base:
            # an OptimWrapper's groups end with its base settings (multiplier 1)
            eta_max = [float(eta_max) * group.get('lr', base) / base
                       for group in optimizer.param_groups]
        super().__init__(optimizer, eta_max=eta_max, **kwargs)
