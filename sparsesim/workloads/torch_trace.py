"""Workloads traced from a ``torch.nn.Module`` (needs torch: ``pip install 'sparsesim[torch]'``).

Forward hooks on every ``nn.Linear`` and ``nn.Conv2d`` record the shapes each one
really sees while the module runs on an example input:

* ``Linear``: ``m = out_features``, ``k = in_features``, ``n`` = the rows of its input
  (every leading dimension: batch x tokens).
* ``Conv2d`` (implicit GEMM per group): ``m = out_channels / groups``,
  ``k = in_channels / groups * kernel_h * kernel_w``, ``n = batch * out_h * out_w``,
  repeated ``groups`` times.

A module called several times with the same shapes becomes one layer with that repeat
count; layers keep the module's qualified name and the order of their first call.
"""

from __future__ import annotations

from ..errors import ConfigError, InputError
from .model import Layer, Workload, check_layers


def _require_torch():
    try:
        import torch
    except ImportError:
        raise InputError("tracing a torch module needs torch: pip install 'sparsesim[torch]'") from None
    return torch


def from_torch(module, example_input, *, name: str | None = None, batch: int | None = None) -> Workload:
    """Run ``module`` once on ``example_input`` (a tensor, or a tuple/dict of arguments)
    with hooks on its Linear and Conv2d layers and return their GEMMs.

    ``batch`` is only recorded on the workload (the example input fixes the shapes);
    by default it is the first dimension of the first tensor argument.
    """
    torch = _require_torch()
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InputError(f"from_torch: name must be a non-empty string, got {name!r:.60}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise InputError(f"from_torch: batch must be a positive integer, got {batch!r:.60}")
    calls: dict = {}
    order: list = []

    def hook(mod, args, output, qualname):
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor):
            return
        if isinstance(mod, torch.nn.Linear):
            shape = ("linear", mod.out_features, x.numel() // max(1, x.shape[-1]), mod.in_features, 1)
            params = {"in_features": mod.in_features, "out_features": mod.out_features}
        else:
            g = mod.groups
            kh, kw = mod.kernel_size
            nb = x.shape[0] if x.dim() == 4 else 1
            shape = ("conv2d", mod.out_channels // g, nb * output.shape[-2] * output.shape[-1],
                     mod.in_channels // g * kh * kw, g)
            params = {"in_channels": mod.in_channels, "out_channels": mod.out_channels,
                      "kernel": (kh, kw), "stride": tuple(mod.stride), "padding": mod.padding,
                      "groups": g, "input_hw": tuple(x.shape[-2:]), "output_hw": tuple(output.shape[-2:])}
        key = (qualname, shape)
        if key not in calls:
            calls[key] = [params, 0]
            order.append(key)
        calls[key][1] += 1

    handles = []
    for qualname, mod in module.named_modules():
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            handles.append(mod.register_forward_hook(
                lambda m, a, o, q=qualname or type(mod).__name__: hook(m, a, o, q)))
    try:
        with torch.no_grad():
            if isinstance(example_input, dict):
                module(**example_input)
            elif isinstance(example_input, (tuple, list)):
                module(*example_input)
            else:
                module(example_input)
    except Exception as exc:
        raise InputError(f"from_torch: the module failed on the example input: {type(exc).__name__}: {exc}") from None
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise InputError("from_torch: the module ran no nn.Linear or nn.Conv2d layer on the example input")
    names = [q for q, _ in order]
    layers = []
    for qualname, (op, m, n, k, groups) in order:
        params, count = calls[(qualname, (op, m, n, k, groups))]
        lname = qualname if names.count(qualname) == 1 else f"{qualname}[{m}x{n}x{k}]"
        if min(m, n, k) < 1:
            raise InputError(f"from_torch: layer {qualname!r} ran an empty GEMM ({m}x{n}x{k}: m = outputs, "
                             "n = input rows, k = inputs); give an example input with at least one row")
        layers.append(Layer(name=lname, op=op, m=m, n=n, k=k, repeat=count * groups, params=params))
    if batch is None:
        first = example_input if isinstance(example_input, torch.Tensor) else next(
            (v for v in (example_input.values() if isinstance(example_input, dict) else example_input)
             if isinstance(v, torch.Tensor)), None)
        batch = int(first.shape[0]) if first is not None and first.dim() > 0 else 1
    title = name or type(module).__name__
    try:
        check_layers(layers, f"torch module {type(module).__name__}")
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    return Workload(name=title, description=f"{type(module).__name__} traced on an example input "
                    f"({len(layers)} GEMM layers)", sources=(f"torch module {type(module).__name__}",),
                    layers=tuple(layers), batch=batch)
