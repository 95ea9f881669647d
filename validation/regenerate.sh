#!/usr/bin/env bash
# Re-run the A100 calibration, the validation report and the ablations of docs/validation.md.
# Run from the repository root: bash validation/regenerate.sh   (about 3 minutes on 2 cores)
set -euo pipefail
SPARSESIM=${SPARSESIM:-sparsesim}
MEASURED=(--measured validation/gpu_2to4_published.csv --measured validation/gpu_2to4_a100_int8.csv
          --measured validation/gpu_2to4_h100_int8.csv)

# 1. calibrate A100 on its fp16 S1 rows (m*n*k >= 2^30); held-out and leave-one-out errors
"$SPARSESIM" calibrate --measured validation/gpu_2to4_published.csv --arch a100 --loo --out validation/a100-calibrated.toml

# 2. the report page
"$SPARSESIM" validate "${MEASURED[@]}" --arch-map A100=validation/a100-calibrated.toml --out reports/validation

# 3. ablation: configs as shipped
"$SPARSESIM" validate "${MEASURED[@]}" --out reports/validation/uncalibrated
