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


def test_read_checkpoint_names_the_file_for_every_broken_kind(tmp_path, capsys):
    """Zero bytes, truncated, not a checkpoint, a refused pickle: one message with the path."""
    import pytest
    import torch

    from eov.engine.checkpoint import CheckpointError, read_checkpoint
    from eov.engine.safe_checkpoints import checkpoint_problem
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}}, good)
    cases = {'empty.pth': b'', 'cut.pth': good.read_bytes()[:200],
             'text.pth': b'this is not a checkpoint'}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)

    class Payload:   # a pickle that would run code when loaded without weights_only
        def __reduce__(self):
            return (print, ('owned',))
    evil = tmp_path / 'evil.pth'
    torch.save({'x': Payload()}, evil)
    for name in [*cases, 'evil.pth']:
        path = str(tmp_path / name)
        with pytest.raises(CheckpointError, match=f'{name}: not a readable'):
            read_checkpoint(path)
    assert 'owned' not in capsys.readouterr().out   # the refused pickle never ran
    assert checkpoint_problem(str(tmp_path / 'empty.pth')) == 'empty (0 bytes)'
    assert 'truncated' in checkpoint_problem(str(tmp_path / 'cut.pth'))
    assert checkpoint_problem(str(good)) is None
    assert read_checkpoint(str(good))['state_dict']['w'].sum() == 3
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        read_checkpoint(str(tmp_path / 'nothing.pth'))
