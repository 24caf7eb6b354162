# eov's built-in default: the tiny model on EOV-Synth optical grounding, on a CPU.
#   python -m eov.datasets.synth data/eov_synth
#   python tools/train.py configs/eov_tiny_synth.py --work-dir work_dirs/tiny
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/eov_tiny.py',
    '_base_/modalities/optical.py',
    '_base_/datasets/synth_grounding.py',
    '_base_/schedules/tiny_cpu.py',
]
