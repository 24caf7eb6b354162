# The tiny eov model reading a third-party modality (DSM) next to optical.
#   pip install -e examples/third_party_plugin
#   python -c "from eov_dsm import generate_dsm_grounding as g; g('data/dsm', 64)"
#   python tools/train.py examples/third_party_plugin/configs/eov_tiny_dsm.py \
#       --cfg-options data_root=data/dsm
_base_ = ['../../../configs/eov_tiny_synth.py']

# Imported before anything is built: registers the 'dsm' modality and sensor.
custom_imports = dict(imports=['eov_dsm'], allow_failed_imports=False)

modalities = dict(
    optical=dict(type='optical', image_size='${image_size}'),
    dsm=dict(type='dsm', image_size='${image_size}'),
)
data_root = 'data/dsm'
train_dataloader = dict(dataset=dict(modalities=['optical', 'dsm']))
test_dataloader = dict(dataset=dict(modalities=['optical', 'dsm'], ann_file='train.jsonl'))
