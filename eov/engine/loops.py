"""Training loops: an iteration loop whose data stream resumes by position."""
from __future__ import annotations

from mmengine.logging import print_log
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator
from torch.utils.data import DataLoader

from eov.registry import LOOPS

#: Runtime-info key of the stream's position: ``[iteration, global batches before it, ranks]``.
STREAM_ANCHOR = 'eov_stream_anchor'


def restarted_loader(loader: DataLoader) -> DataLoader:
    """A new data loader over the same dataset and settings (new worker processes, which
    take the dataset as it is now)."""
    return DataLoader(
        loader.dataset, batch_size=loader.batch_size, num_workers=loader.num_workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers and loader.num_workers > 0,
        prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None)


def shut_down(iterator) -> None:
    """Stop the worker processes of a data-loader iterator now (instead of at garbage
    collection or after their timeout)."""
    inner = getattr(iterator, '_iterator', iterator)
    stop = getattr(inner, '_shutdown_workers', None)
    if stop is not None:
        stop()


@LOOPS.register_module()
class StreamingIterTrainLoop(IterBasedTrainLoop):
    """MMEngine's ``IterBasedTrainLoop`` for a dataset that resumes by position
    (:class:`~eov.datasets.streaming.StreamingInstructionDataset`): a resumed run sets the
    stream to its iteration (``resume_at``) instead of replaying every batch trained, so a
    resume costs the same at iteration 10 and 10 million. Other datasets are replayed as
    MMEngine does. The data-loader workers are shut down when training ends.
    """

    def run(self):
        from mmengine.dist import get_dist_info
        dataset = self.dataloader.dataset
        hub = self.runner.message_hub
        if not hasattr(dataset, 'resume_at'):
            try:
                return super().run()
            finally:
                shut_down(self.dataloader_iterator)
        # (iteration, global batches trained before it, ranks) of this run's start: saved
        # with every checkpoint (MMEngine keeps the message hub's runtime info)
        _, world = get_dist_info()
        anchor = hub.get_info(STREAM_ANCHOR) if self._iter > 0 else None
        batches = self._iter * world if anchor is None else \
            int(anchor[1]) + (self._iter - int(anchor[0])) * int(anchor[2])
        hub.update_info(STREAM_ANCHOR, [self._iter, batches, world])
        if self._iter > 0:
            shut_down(self.dataloader_iterator)
            dataset.resume_at(self._iter, batches)
            self.dataloader = restarted_loader(self.dataloader)
            self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
            print_log(f'the data stream continues at iteration {self._iter}, global batch '
                      f'{batches} (no replay)', logger='current')
        try:
            return self._run_from(self._iter)
        finally:
            shut_down(self.dataloader_iterator)

    def _run_from(self, start: int):
        """The parent's ``run`` from iteration ``start`` without its replay."""
        self._iter = start
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin and
                    (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
