"""The README's default-study figures from Python: a sweep into a pandas DataFrame.

Run:  python examples/sweep_to_pandas.py   (needs the pandas extra: pip install 'sparsesim[pandas]')
It prints the total BERT-base network speedup of each N:M pattern over dense on A100
and H100 (the "Total network speedup" table of reports/default/report.md, batch 8),
and the layers of a Hugging Face config with their share of the dense time.
"""

import sparsesim

df = sparsesim.sweep(arch=["a100", "h100"], workload=["bert-base"], patterns=["dense", "2:4", "4:8"],
                     batch=8, jobs=1)
df["network_seconds"] = df.seconds * df.repeat  # typed columns: numbers are numbers
total = df.groupby(["arch", "pattern"]).network_seconds.sum().unstack("arch")
speedup = total.loc["dense"] / total
print("BERT-base, batch 8: network speedup over dense")
print(speedup.to_string(float_format="{:.2f}".format))

# a Hugging Face config at decode: the attention products run dense under every pattern
wl = sparsesim.load_workload("qwen2-0.5b", phase="decode", context=2048, batch=16)
df = sparsesim.sweep(arch="a100", workload=[wl], patterns=["dense", "2:4"], jobs=1)
dense = df[df.pattern == "dense"].set_index("layer")
share = 100 * dense.seconds * dense.repeat / (dense.seconds * dense.repeat).sum()
print(f"\n{wl.name} on a100: share of dense time per layer (%)")
print(share.to_string(float_format="{:.1f}".format))
