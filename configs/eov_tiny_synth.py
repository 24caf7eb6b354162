# The single-task baseline: the tiny model on EOV-Synth optical grounding, on a CPU
# (the fastest end-to-end check; `make demo` runs the multi-modality PCMA chain).
#   python -m eov.datasets.synth data/eov_synth --suite grounding
#   python tools/train.py configs/eov_tiny_synth.py --work-dir work_dirs/tiny
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/eov_tiny.py',
    '_base_/modalities/optical.py',
    '_base_/datasets/synth_grounding.py',
    '_base_/schedules/tiny_cpu.py',
]
