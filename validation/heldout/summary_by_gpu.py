"""Per-GPU MAPE of dense time and 2:4 speedup on GEMMs >= 1024^3, and the predicted-vs-measured speedup correlation, from the errors.csv that `sparsesim validate --out DIR` writes. Usage: python validation/heldout/summary_by_gpu.py DIR/errors.csv"""
import csv, sys, statistics, collections, math
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["large"] in ("True", "1", "true")]
g = collections.defaultdict(list)
for r in rows:
    g[r["gpu"]].append(r)
    g[r["gpu"] + "/" + r["dtype"]].append(r)
def corr(a, b):
    if len(a) < 3: return float("nan")
    ma, mb = statistics.mean(a), statistics.mean(b)
    sa = math.sqrt(sum((x - ma) ** 2 for x in a)); sb = math.sqrt(sum((y - mb) ** 2 for y in b))
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (sa * sb) if sa and sb else float("nan")
print(f"{'group':22s} {'rows':>5s} {'dense MAPE':>10s} {'speedup MAPE':>12s} {'corr':>6s} {'meas sp med':>11s} {'pred sp med':>11s}")
for k in sorted(g, key=lambda s: ("/" in s, s)):
    v = g[k]
    d = statistics.mean(abs(float(r["err_dense_pct"])) for r in v)
    s = statistics.mean(abs(float(r["err_speedup_pct"])) for r in v)
    ms = [float(r["speedup"]) for r in v]; ps = [float(r["pred_speedup"]) for r in v]
    print(f"{k:22s} {len(v):5d} {d:10.1f} {s:12.1f} {corr(ms, ps):6.2f} {statistics.median(ms):11.2f} {statistics.median(ps):11.2f}")
