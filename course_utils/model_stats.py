"""Per-layer statistics of a PyTorch model: output shape, activation memory, parameters, MACs.

    with torch.device("meta"):          # shapes only: no memory, no arithmetic, instant
        model = architectures.vgg16()
    stats = model_stats.layer_stats(model, (3, 224, 224))
    print(model_stats.format_report(stats))

Forward hooks on every leaf module record what one image (a batch of 1) costs. A
multiply-accumulate (MAC) is one a * b + c; FLOPs are often quoted as 2 MACs, and papers mix the
two up. Only convolutions and linear layers count MACs (they dominate); pooling, normalisation and
activations, and operations written as functions in a forward (torch.cat, +), count none.
"""

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

import torch
from torch import nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED_CONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True)
class LayerStats:
    """What one call of one module costs for one input image.

    Attributes:
        name: the module's qualified name in the model ("features.0"), "" for the model itself.
        kind: the module's class name ("Conv2d").
        output_shape: shape of the output without the batch axis, e.g. (64, 224, 224); () when
            the module returns several tensors.
        activation_bytes: bytes of the output of a leaf module; 0 when it shares memory with the
            input (in-place ReLU, dropout at test time, a flatten view), and 0 for a module with
            sub-modules (its output is a sub-module's, or made by functions the hooks do not see).
        parameters: parameters the module holds itself (0 on later calls of a shared module).
        macs: multiply-accumulates of the call.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    activation_bytes: int
    parameters: int
    macs: int


def build_on_meta(builder: Callable[..., nn.Module], *args, **kwargs) -> nn.Module:
    """builder(*args, **kwargs) with every tensor on the meta device: shapes without memory."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


def count_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-accumulates of one call of `module` (0 for modules other than conv and linear).

    Conv: each output value is a dot product of (C_in / groups) * kH * kW weights with the input.
    Transposed conv: each input value is multiplied by (C_out / groups) * kH * kW weights.
    Linear: each output value is a dot product of in_features weights with the input.
    """
    if isinstance(module, _CONVS):
        return output.numel() * module.in_channels // module.groups * prod(module.kernel_size)
    if isinstance(module, _TRANSPOSED_CONVS):
        return inputs[0].numel() * module.out_channels // module.groups * prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def _shares_memory(output: torch.Tensor, inputs: tuple) -> bool:
    """Whether `output` is one of the input tensors or a view of one (works on the meta device)."""
    for tensor in inputs:
        if not isinstance(tensor, torch.Tensor):
            continue
        base = tensor._base if tensor._base is not None else tensor
        if output is tensor or output._base is base:
            return True
    return False


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def _recorded_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules, and any other module that holds parameters of its own."""
    return [(name, module) for name, module in model.named_modules()
            if next(module.children(), None) is None
            or next(module.parameters(recurse=False), None) is not None]


def layer_stats(model: nn.Module, input_size: tuple[int, ...], dtype: torch.dtype = torch.float32
                ) -> list[LayerStats]:
    """Run one input of shape (1, *input_size) through `model` and record each layer's cost.

    The input lives on the device of the model's first parameter (the meta device for a model
    built with build_on_meta). The model runs in eval mode without gradients and is put back in
    its previous mode, so BatchNorm statistics are left alone.

    Args:
        model: any nn.Module taking one tensor.
        input_size: the shape of one input without the batch axis, e.g. (3, 224, 224).
        dtype: the input's dtype; memory is counted in the outputs' own dtypes.

    Returns:
        one LayerStats per call of a recorded module (leaf modules, and modules holding parameters
        themselves), in the order of the calls.
    """
    if not input_size or any(int(size) < 1 for size in input_size):
        raise ValueError(f"input_size must be a non-empty shape of positive sizes without the "
                         f"batch axis, e.g. (3, 224, 224); got {input_size}")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    rows: list[LayerStats] = []
    seen: set[int] = set()

    def record(name: str, leaf: bool) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            tensors = _tensors(output)
            parameters = 0
            if id(module) not in seen:
                seen.add(id(module))
                parameters = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerStats(
                name=name, kind=type(module).__name__,
                output_shape=tuple(tensors[0].shape[1:]) if len(tensors) == 1 else (),
                activation_bytes=sum(t.numel() * t.element_size() for t in tensors
                                     if leaf and not _shares_memory(t, inputs)),
                parameters=parameters,
                macs=count_macs(module, inputs, tensors[0]) if len(tensors) == 1 else 0))
        return hook

    handles = [module.register_forward_hook(record(name, next(module.children(), None) is None))
               for name, module in _recorded_modules(model)]
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_size), dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return rows


def totals(stats: list[LayerStats]) -> dict[str, int]:
    """Sums over the layers: {"parameters", "macs", "activation_bytes"}."""
    return {"parameters": sum(row.parameters for row in stats),
            "macs": sum(row.macs for row in stats),
            "activation_bytes": sum(row.activation_bytes for row in stats)}


def format_report(stats: list[LayerStats], skip_empty: bool = True) -> str:
    """A text table of the layers and their totals.

    Args:
        stats: rows from layer_stats.
        skip_empty: leave out rows with no new memory, no parameters and no MACs (in-place ReLUs).
    """
    lines = [f"{'layer':<28}{'type':<20}{'output shape':>18}{'memory KiB':>12}{'params':>14}"
             f"{'MMACs':>10}"]
    for row in stats:
        if skip_empty and not (row.activation_bytes or row.parameters or row.macs):
            continue
        lines.append(f"{row.name[:27]:<28}{row.kind[:19]:<20}{str(row.output_shape):>18}"
                     f"{row.activation_bytes / 1024:>12,.0f}{row.parameters:>14,}"
                     f"{row.macs / 1e6:>10,.1f}")
    total = totals(stats)
    lines.append(f"{'total':<66}{total['activation_bytes'] / 1024:>12,.0f}"
                 f"{total['parameters']:>14,}{total['macs'] / 1e6:>10,.1f}")
    return "\n".join(lines)
