"""Training loops: an iteration loop whose data stream resumes by position and whose
data-loader workers stop when training ends."""
from __future__ import annotations

import logging

from mmengine.logging import print_log
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator
from torch.utils.data import DataLoader

from eov.registry import LOOPS

#: Runtime-info key of the stream's position: ``[iteration, global batches before it, ranks]``.
STREAM_ANCHOR = 'eov_stream_anchor'
#: Runtime-info key of a token-budget stream's position: every slot's state after the last
#: batch trained (:func:`eov.datasets.streaming.continue_budget_state`).
STREAM_STATE = 'eov_stream_state'


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
    """Stop the worker processes of a data-loader iterator now.

    torch asks its workers to exit and waits up to 5 s for each that is still making a
    batch (persistent workers prefetch, so at the end of training they usually are):
    seconds lost at every PCMA stage change. Training is over, so their batches are not
    needed: they are terminated first, then torch's own shutdown closes the queues.
    """
    inner = getattr(iterator, '_iterator', iterator)
    workers = getattr(inner, '_workers', None) or []
    if workers and getattr(inner, '_worker_pids_set', False):
        # unwatch them first: torch's SIGCHLD handler reports a worker ended by a signal
        from torch.utils.data._utils import signal_handling
        signal_handling._remove_worker_pids(id(inner))
        inner._worker_pids_set = False
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    stop = getattr(inner, '_shutdown_workers', None)
    if stop is not None:
        stop()


@LOOPS.register_module()
class EOVIterTrainLoop(IterBasedTrainLoop):
    """MMEngine's ``IterBasedTrainLoop``, plus three things:

    - a dataset that resumes by position
      (:class:`~eov.datasets.streaming.StreamingInstructionDataset`) is set to where the
      run stopped (``resume_at``) instead of replaying every batch trained, so a resume
      costs the same at iteration 10 and 10 million (other datasets are replayed as MMEngine
      does); a token-budget stream's slot positions are kept with every checkpoint
      (:data:`STREAM_STATE`, gathered from every process);
    - the data-loader workers are stopped when training ends (:func:`shut_down`), so a
      PCMA stage change does not wait for them;
    - with gradient accumulation and ``model.loss_normalization='global'``, the micro-batches
      of an optimizer step are read together and each loss is divided by the answer-token
      weight of all of them on all processes, so ``b`` x ``k`` accumulation steps train as one
      batch of ``k * b`` whatever the answer lengths.
    """

    _budget = None      # a token-budget stream's state (set by run)

    def run(self):
        from mmengine.dist import get_dist_info
        dataset = self.dataloader.dataset
        hub = self.runner.message_hub
        streaming = hasattr(dataset, 'resume_at')
        self._budget = None
        if streaming and getattr(dataset, 'max_tokens', None) is not None:
            _, world = get_dist_info()
            saved = hub.get_info(STREAM_STATE) if self._iter > 0 else None
            if self._iter > 0 and saved is None:
                raise RuntimeError(
                    f'resuming at iteration {self._iter}: the checkpoint holds no token-budget '
                    f'stream state ({STREAM_STATE}); it was written by a run without '
                    'max_tokens -- resume it with the same data settings')
            dataset.resume_budget(saved)
            self._budget = dataset.budget_start(world, self.dataloader.num_workers)
            hub.update_info(STREAM_STATE, self._budget)
        if streaming:
            # (iteration, global batches trained before it, ranks) of this run's start:
            # saved with every checkpoint (MMEngine keeps the message hub's runtime info)
            _, world = get_dist_info()
            anchor = hub.get_info(STREAM_ANCHOR) if self._iter > 0 else None
            batches = self._iter * world if anchor is None else \
                int(anchor[1]) + (self._iter - int(anchor[0])) * int(anchor[2])
            hub.update_info(STREAM_ANCHOR, [self._iter, batches, world])
        if streaming and self._iter > 0:
            shut_down(self.dataloader_iterator)
            dataset.resume_at(self._iter, batches)
            self.dataloader = restarted_loader(self.dataloader)
            self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
            print_log(f'the data stream continues at iteration {self._iter}, global batch '
                      f'{batches} (no replay)', logger='current')
        try:
            return self._run_from(self._iter, replay=not streaming)
        finally:
            shut_down(self.dataloader_iterator)

    def _run_from(self, start: int, replay: bool = False):
        """The parent's ``run`` from iteration ``start`` (replaying the loader's first
        ``start`` batches only with ``replay``)."""
        self._iter = start
        self._queue = []
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if replay and start > 0:
            print_log(f'Advance dataloader {start} steps to skip data that has already been '
                      'trained', logger='current', level=logging.WARNING)
            for _ in range(start):
                next(self.dataloader_iterator)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(self._next_batch())
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin and
                    (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _next_batch(self):
        """The next batch, its token-budget stream state recorded (:meth:`_record`)."""
        batch = self._pull()
        if self._budget is not None:
            self._record(batch.pop('stream_state', None))
        return batch

    def _record(self, state: dict | None) -> None:
        """Keep the slot state of the batch about to be trained, and every other process's
        (gathered: only rank 0 writes checkpoints), in the message hub."""
        from mmengine.dist import all_gather_object, get_dist_info
        mine = {} if state is None else {int(state['slot']): state}
        _, world = get_dist_info()
        for part in (all_gather_object(mine) if world > 1 else [mine]):
            for slot, slot_state in part.items():
                if slot_state['slots'] != self._budget['slots']:
                    raise RuntimeError(f'stream state of slot {slot} counts '
                                       f"{slot_state['slots']} slots, the run "
                                       f"{self._budget['slots']}")
                self._budget['per_slot'][int(slot)] = dict(
                    k=slot_state['k'], pending=slot_state['pending'],
                    buffer=slot_state['buffer'])
        self.runner.message_hub.update_info(STREAM_STATE, self._budget)

    def _pull(self):
        """The next batch from the loader; with gradient accumulation and a model whose loss
        is normalised globally, the step's micro-batches are read together and each is given
        the weight of all of them (and of every process) as its loss denominator."""
        if self._queue:
            return self._queue.pop(0)
        model = getattr(self.runner.model, 'module', self.runner.model)
        wrapper = self.runner.optim_wrapper
        group = getattr(wrapper, '_accumulative_counts', 1)
        if group <= 1 or getattr(model, 'loss_normalization', None) != 'global' or \
                not hasattr(model, 'answer_weight_sum'):
            return next(self.dataloader_iterator)
        end = min((self._iter // group + 1) * group, self._max_iters)
        batches = [next(self.dataloader_iterator) for _ in range(end - self._iter)]
        import torch
        local = torch.tensor(sum(model.answer_weight_sum(b['inputs']) for b in batches),
                             dtype=torch.float64, device=next(model.parameters()).device)
        total = float(model.loss_denominator(local)[0])    # over every process
        for j, batch in enumerate(batches):
            # the optimizer wrapper divides each loss by its accumulation factor: undo it
            batch['inputs']['loss_denominator'] = total / _loss_factor(wrapper, self._iter + j)
        self._queue = batches[1:]
        return batches[0]


def _loss_factor(wrapper, inner_count: int) -> int:
    """What MMEngine's ``OptimWrapper.scale_loss`` divides the loss of micro-step
    ``inner_count`` by (its own rule, restated: the last steps of a run not divisible by the
    accumulation are divided by the remainder)."""
    counts = wrapper._accumulative_counts
    if counts == 1:
        return 1
    if wrapper._max_counts == -1:
        return counts
    return counts if inner_count < wrapper._max_counts - wrapper._remainder_counts \
        else wrapper._remainder_counts
