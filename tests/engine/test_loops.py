"""eov's training loop stops its data-loader workers at once, even while they make a batch."""
import time

import torch
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader, IterableDataset

from eov.engine.loops import shut_down


class _SlowBatches(IterableDataset):
    """A batch every 20 s: a worker is always in the middle of one."""

    def __iter__(self):
        while True:
            time.sleep(20.0)
            yield torch.zeros(1)


def test_workers_in_the_middle_of_a_batch_are_stopped_without_waiting_for_it():
    loader = DataLoader(_SlowBatches(), batch_size=None, num_workers=2,
                        persistent_workers=True)
    iterator = _InfiniteDataloaderIterator(loader)
    workers = list(iterator._iterator._workers)
    assert all(w.is_alive() for w in workers)
    start = time.monotonic()
    shut_down(iterator)
    # torch's own shutdown would wait for each worker's batch (up to 5 s each, then kill)
    assert time.monotonic() - start < 5.0
    assert not any(w.is_alive() for w in workers)
