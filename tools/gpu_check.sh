#!/usr/bin/env bash
# The standing GPU check (issue 12): one script, about 8 minutes on one H100/H200.
#
#   tools/gpu_check.sh [--dry-run] [--out DIR] [--python PY]
#
# Steps (each one JSON line in DIR/results.jsonl, its log in DIR/<step>.log):
#   1. env           torch / CUDA / GPU / transformers / timm versions
#   2. packing       tests/models/test_packing_gpu.py: flash_varlen, xformers (where it has
#                    kernels) and sdpa packed attention against eager, in bf16
#   3. 2b_varlen     tools/benchmark.py train-step, configs/eov_2b.py, packed vs the padded
#                    HF-style baseline on variable-length samples (128-2048 tokens), 16k
#                    tokens per step: tokens/s, MFU, peak memory
#   4. 2b_fixed      the same on fixed-length samples (2048 tokens)
#   4b. eov2b_step   one packed train step of configs/eov_2b_siglip2_qwen3.py (SigLIP-2 +
#                    Qwen3-1.7B, Earth-OneVision's reported shape), 8k tokens
#   5. fsdp_step     2 iterations of the tiny config under strategy.type=fsdp, bf16
#   6. deepspeed     2 iterations of the tiny config under ZeRO-2 (skipped, and said so,
#                    when DeepSpeed is not installed)
# DIR/summary.json then holds each step's status and the issue's targets for
# configs/eov_2b.py: >= 1.6x the padded baseline's useful tokens/s on variable-length
# data, >= 40% MFU on fixed-length data, no OOM at 16k tokens per step.
#
# --dry-run (any machine, CPU only, about a minute): prints the plan, checks the 8-GPU
# strategy configs, builds configs/eov_2b.py and configs/eov_2b_siglip2_qwen3.py on the
# meta device, collects the GPU tests,
# and runs one tiny train-step benchmark on the CPU -- the commands are the GPU run's.
set -u
cd "$(dirname "$0")/.."

DRY=0
OUT=work_dirs/gpu_check
PY=${PYTHON:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --out) OUT="$2"; shift ;;
        --python) PY="$2"; shift ;;
        -h|--help) sed -n 2,24p "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
DATA="$OUT/synth"

# run_step NAME TIMEOUT_S COMMAND...: run, log, and append {"step", "status", "seconds"}
run_step() {
    local name=$1 limit=$2; shift 2
    local log="$OUT/$name.log" start status rc
    echo "== $name: $*"
    start=$(date +%s)
    timeout "$limit" "$@" > "$log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124|137) status=timeout ;;
        *) status=failed ;;
    esac
    if grep -q "CUDA out of memory\|OutOfMemoryError" "$log"; then status=oom; fi
    printf '{"step": "%s", "status": "%s", "rc": %d, "seconds": %d, "log": "%s"}\n' \
        "$name" "$status" "$rc" "$(( $(date +%s) - start ))" "$log" >> "$RESULTS"
    echo "   $status (rc $rc, $(( $(date +%s) - start )) s) -> $log"
    tail -n 3 "$log" | sed 's/^/   | /'
}

TINY_OPTS=(--cfg-options "data_root=$DATA" train_cfg.max_iters=2
           default_hooks.checkpoint.interval=2 default_hooks.logger.interval=1
           train_dataloader.batch_size=4 train_dataloader.num_workers=0
           train_dataloader.persistent_workers=False)

run_step env 60 "$PY" - <<'EOF'
import json, torch
info = dict(torch=torch.__version__, cuda=torch.version.cuda,
            gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for name in ('transformers', 'timm', 'mmengine', 'xformers', 'deepspeed'):
    try:
        info[name] = __import__(name).__version__
    except Exception as err:   # not installed, or no kernels
        info[name] = f'unavailable ({type(err).__name__})'
print(json.dumps(info))
EOF
run_step synth_data 120 "$PY" -c "
from eov.datasets.synth import SynthConfig, generate
generate('$DATA', {'train': 32, 'test': 4}, seed=0, cfg=SynthConfig(), progress=False)"

if [ "$DRY" = 1 ]; then
    echo "dry run: CPU only; the GPU run executes the same steps with --device cuda"
    run_step strategies 300 "$PY" - <<'EOF'
import json
from eov.engine.config import load_config
from eov.engine.strategies import StrategyError, apply_strategy
for path in ('configs/eov_2b_fsdp_8gpu.py', 'configs/eov_2b_zero2_8gpu.py'):
    cfg = load_config(path)
    try:
        plan = apply_strategy(cfg, processes=8)
        print(json.dumps(dict(config=path, **{k: plan[k] for k in (
            'type', 'precision', 'processes', 'micro_batch_size', 'accumulation')})))
    except StrategyError as err:   # e.g. DeepSpeed not installed here
        print(json.dumps(dict(config=path, refused=str(err))))
EOF
    run_step 2b_meta 300 "$PY" - <<'EOF'
import json, torch
from mmengine.registry import init_default_scope
from eov.engine.config import load_config
from eov.registry import MODELS
init_default_scope('eov')
with torch.device('meta'):
    model = MODELS.build(load_config('configs/eov_2b.py').model)
print(json.dumps(dict(config='configs/eov_2b.py', parameters=sum(p.numel() for p in model.parameters()),
                      image_tokens=model.num_image_tokens(modality='optical'))))
EOF
    run_step eov2b_meta 300 "$PY" - <<'EOF'
import json, torch
from mmengine.registry import init_default_scope
from eov.engine.config import load_config
from eov.registry import MODELS
init_default_scope('eov')
with torch.device('meta'):
    model = MODELS.build(load_config('configs/eov_2b_siglip2_qwen3.py').model)
print(json.dumps(dict(config='configs/eov_2b_siglip2_qwen3.py',
                      parameters=sum(p.numel() for p in model.parameters()),
                      image_tokens=model.num_image_tokens(modality='optical'))))
EOF
    run_step packing_collect 120 "$PY" -m pytest tests/models/test_packing_gpu.py --collect-only -q
    run_step tiny_train_step 300 "$PY" tools/benchmark.py train-step \
        --config configs/eov_tiny_synth.py --device cpu --steps 1 --warmup 0 \
        --min-len 64 --max-len 128 --tokens-per-step 512 --out "$OUT/train_step.jsonl"
    echo "plan on a GPU:"
    echo "  $PY -m pytest tests/models/test_packing_gpu.py -v"
    echo "  $PY tools/benchmark.py train-step --config configs/eov_2b.py --device cuda --min-len 128 --max-len 2048 --tokens-per-step 16384"
    echo "  $PY tools/benchmark.py train-step --config configs/eov_2b.py --device cuda --min-len 2048 --max-len 2048 --tokens-per-step 16384"
    echo "  $PY -m torch.distributed.run --nproc-per-node 1 tools/train.py configs/eov_tiny_synth.py --launcher pytorch ... strategy.type=fsdp strategy.precision=bf16"
    echo "  $PY -m torch.distributed.run --nproc-per-node 1 tools/train.py configs/eov_tiny_synth.py --launcher pytorch ... strategy.type=deepspeed strategy.zero_stage=2 strategy.precision=bf16"
else
    run_step packing 240 "$PY" -m pytest tests/models/test_packing_gpu.py -v
    run_step 2b_varlen 240 "$PY" tools/benchmark.py train-step --config configs/eov_2b.py \
        --device cuda --min-len 128 --max-len 2048 --tokens-per-step 16384 --steps 5 \
        --warmup 2 --out "$OUT/train_step.jsonl"
    run_step 2b_fixed 180 "$PY" tools/benchmark.py train-step --config configs/eov_2b.py \
        --device cuda --min-len 2048 --max-len 2048 --tokens-per-step 16384 --steps 5 \
        --warmup 2 --out "$OUT/train_step_fixed.jsonl"
    run_step eov2b_step 180 "$PY" tools/benchmark.py train-step \
        --config configs/eov_2b_siglip2_qwen3.py --device cuda --min-len 512 --max-len 1024 \
        --tokens-per-step 8192 --steps 1 --warmup 1 --out "$OUT/train_step_eov2b.jsonl"
    run_step fsdp_step 180 "$PY" -m torch.distributed.run --nproc-per-node 1 \
        --master-port 29611 tools/train.py configs/eov_tiny_synth.py --launcher pytorch \
        --work-dir "$OUT/fsdp" "${TINY_OPTS[@]}" strategy.type=fsdp strategy.precision=bf16
    if "$PY" -c "import deepspeed" > /dev/null 2>&1; then
        run_step deepspeed_step 180 "$PY" -m torch.distributed.run --nproc-per-node 1 \
            --master-port 29612 tools/train.py configs/eov_tiny_synth.py --launcher pytorch \
            --work-dir "$OUT/deepspeed" "${TINY_OPTS[@]}" strategy.type=deepspeed \
            strategy.zero_stage=2 strategy.precision=bf16
    else
        printf '{"step": "deepspeed_step", "status": "skipped", "reason": "DeepSpeed is not installed"}\n' >> "$RESULTS"
        echo "== deepspeed_step: skipped (DeepSpeed is not installed)"
    fi
fi

"$PY" - "$OUT" "$DRY" <<'EOF'
import json, os, sys
out, dry = sys.argv[1], sys.argv[2] == '1'
steps = [json.loads(line) for line in open(os.path.join(out, 'results.jsonl'))]
def rows(name):
    path = os.path.join(out, name)
    return [json.loads(line) for line in open(path)] if os.path.isfile(path) else []
summary = dict(dry_run=dry, steps={s['step']: s['status'] for s in steps}, targets={})
if not dry:
    var = {r['impl']: r for r in rows('train_step.jsonl') if 'impl' in r}
    fixed = {r['impl']: r for r in rows('train_step_fixed.jsonl') if 'impl' in r}
    if 'packed' in var and 'padded' in var:
        speedup = var['packed']['tokens_per_s'] / var['padded']['tokens_per_s']   # real tokens only
        summary['targets']['varlen_speedup>=1.6'] = dict(value=round(speedup, 3),
                                                          met=speedup >= 1.6)
    if fixed.get('packed', {}).get('mfu') is not None:
        mfu = fixed['packed']['mfu']
        summary['targets']['fixed_mfu>=0.40'] = dict(value=mfu, met=mfu >= 0.40)
    summary['targets']['no_oom_16k_tokens'] = dict(
        met=all(s['status'] != 'oom' for s in steps if s['step'].startswith('2b_')))
summary['ok'] = all(v in ('ok', 'skipped') for v in summary['steps'].values()) and \
    all(t['met'] for t in summary['targets'].values())
with open(os.path.join(out, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=1)
print(json.dumps(summary, indent=1))
sys.exit(0 if summary['ok'] else 1)
EOF
