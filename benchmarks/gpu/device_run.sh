#!/usr/bin/env bash
# One prepared run of the GPU benchmark on a lent machine: the machine's facts, then dense vs
# 2:4 GEMMs (square and LLM-layer shapes; fp16, bf16, int8, fp8; cuSPARSELt default and
# best-of-search, CUTLASS), written to $OUT (or ./gpu-run) as the measured-timing CSV.
# Usage: bash benchmarks/gpu/device_run.sh [TIME_BUDGET_S]
set -u
out=${OUT:-gpu-run}
mkdir -p "$out"
budget=${1:-300}
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,power.limit,power.default_limit,clocks.max.sm,clocks.max.mem,memory.total,temperature.gpu --format=csv
  nvidia-smi -q -d CLOCK,POWER,PERFORMANCE | sed -n 1,80p
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'cusparselt', torch.backends.cusparselt.version())"
} > "$out/env.txt" 2>&1
# Llama-3-8B linear layers (hidden 4096, 8 KV heads of 128: qkv 6144, MLP 14336, gate+up fused)
# at 512 and 4096 tokens: m = output features, n = tokens, k = input features
layers="6144x4096x4096,28672x4096x4096,4096x4096x14336,6144x512x4096,28672x512x4096,4096x512x14336"
PYTHONUNBUFFERED=1 python3 benchmarks/gpu/bench_gemm.py \
  --sizes "1024,2048,4096,8192,16384,$layers" --dtypes fp16,bf16,int8,fp8 \
  --backends cusparselt,cusparselt-search,cutlass --warmup 5 --iters 30 \
  --time-budget-s "$budget" --out "$out/gemm.csv" 2> >(tee "$out/bench.log" >&2)
echo "bench_gemm exit $?"
