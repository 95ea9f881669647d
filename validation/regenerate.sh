#!/usr/bin/env bash
# Re-run the A100 calibration, the validation report and the ablations of docs/validation.md.
# Run from the repository root: bash validation/regenerate.sh   (about 5 minutes on 2 cores)
set -euo pipefail
SPARSESIM=${SPARSESIM:-sparsesim}
MEASURED=(--measured validation/gpu_2to4_published.csv --measured validation/gpu_2to4_a100_int8.csv
          --measured validation/gpu_2to4_h100_int8.csv)

# 1. calibrate A100 on its fp16 S1 rows (m*n*k >= 2^30); held-out and leave-one-out errors
"$SPARSESIM" calibrate --measured validation/gpu_2to4_published.csv --arch a100 --loo --out validation/a100-calibrated.toml

# 2. the report page
"$SPARSESIM" validate "${MEASURED[@]}" --arch-map A100=validation/a100-calibrated.toml --out reports/validation

# 3. ablations: no power model; configs as shipped
"$SPARSESIM" calibrate --measured validation/gpu_2to4_published.csv --arch a100 --no-power \
    --out reports/validation/no-power/a100-calibrated-nopower.toml
"$SPARSESIM" validate "${MEASURED[@]}" --arch-map A100=reports/validation/no-power/a100-calibrated-nopower.toml \
    --out reports/validation/no-power
"$SPARSESIM" validate "${MEASURED[@]}" --out reports/validation/uncalibrated

# 4. the linear clock-power law variant (clock_exponent = 1)
mkdir -p reports/validation/linear-power
sed 's/^clock_exponent = 3.0 .*/clock_exponent = 1.0    # variant: voltage pinned at its floor/' \
    validation/power/a100.toml > reports/validation/linear-power/a100-power-start.toml
"$SPARSESIM" calibrate --measured validation/gpu_2to4_published.csv --arch a100 \
    --power reports/validation/linear-power/a100-power-start.toml \
    --out reports/validation/linear-power/a100-calibrated-linear.toml
"$SPARSESIM" validate "${MEASURED[@]}" --arch-map A100=reports/validation/linear-power/a100-calibrated-linear.toml \
    --out reports/validation/linear-power
