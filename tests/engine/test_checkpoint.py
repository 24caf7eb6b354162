import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from eov.engine.checkpoint import load_checkpoint_safely


def test_mmengine_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('eov-test-ckpt')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', 7)
    path = tmp_path / 'c.pth'
    torch.save(dict(meta=dict(iter=np.int64(7), seed=np.int32(1)),
                    message_hub=hub.state_dict(),
                    state_dict={'w': torch.ones(2)}), path)
    ckpt = load_checkpoint_safely(str(path))
    assert ckpt['meta']['iter'] == 7
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(0.375)
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


class RunsACommand:
    def __reduce__(self):
        import os
        return (os.system, ('echo pwned',))


class ReachesForAMethod:
    def __reduce__(self):
        return (getattr, (np.ndarray, 'tofile'))


@pytest.mark.parametrize('payload, error, match', [
    (RunsACommand(), pickle.UnpicklingError, 'posix.system|os.system'),
    (ReachesForAMethod(), RuntimeError, "getattr.*'tofile'.*only allows"),
])
def test_arbitrary_calls_and_getattr_are_refused(tmp_path, payload, error, match):
    path = tmp_path / 'evil.pth'
    torch.save({'x': payload}, path)
    with pytest.raises(error, match=match):
        load_checkpoint_safely(str(path))
