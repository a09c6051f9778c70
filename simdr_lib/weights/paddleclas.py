"""Name map of PaddleClas ImageNet HRNet weights (``HRNet_W*_C``) onto our HRNet backbone.

PaddleClas distributes ``HRNet_W32_C_pretrained.pdparams`` / ``HRNet_W48_C_pretrained.pdparams``
(``paddle.load`` -> ``{name: ndarray}``) for its ``HRNet_W{w}_C`` classifier. Its layout was
read from PaddlePaddle/PaddleClas ``ppcls/arch/backbone/legendary_models/hrnet.py`` at commit
``70da41ce480505609074fcda811553661b772d15`` (the version whose ``MODEL_URLS`` point at
``.../dygraph/legendary_models/HRNet_W{w}_C_pretrained.pdparams``). An earlier revision of the
same file (commit ``014f1d1d276dcc808626d4226f70547113ebb644``) used other attribute names;
it is supported as the ``"paddleclas-legacy"`` layout. **Neither map was verified against the
real released weights files** (no network access when this was written); they follow the
source code only. Layout (``C`` = a conv-BN unit, ``{conv,bn}`` in the current file,
``{_conv,_batch_norm}`` in the legacy one; BN tensors ``weight, bias, _mean, _variance``,
convs bias-free)::

    conv_layer1_1.C, conv_layer1_2.C            stem: 3x3 s2 convs, 3 -> 64 -> 64
    layer1.{0..3}.conv{1,2,3}.C                 Bottlenecks (64 planes, 256 out)
    layer1.0.conv_down.C                        1x1 shortcut 64 -> 256
    conv_tr1_1.C, conv_tr1_2.C                  256 -> w (3x3), 256 -> 2w (3x3 s2)
    conv_tr2.C, conv_tr3.C                      2w -> 4w, 4w -> 8w (3x3 s2)
                                                (legacy: tr1_1, tr1_2, tr2, tr3)
    st{2,3,4}.stage_func_list.{m}.basic_block_list.{b}.{0..3}.conv{1,2}.C     BasicBlocks
    st{2,3,4}.stage_func_list.{m}.fuse_func.residual_func_list.{r}.C          fusion convs

``residual_func_list`` is flat: for every output branch ``i`` and input branch ``j``, one
1x1 conv if ``j > i`` and ``i - j`` strided 3x3 convs if ``j < i``. PaddleClas keeps all
outputs of the last stage-4 module (it feeds its classifier); we keep branch 0 only, whose
entries come first (``r = 0, 1, 2``). Classification-only tensors have no counterpart here
and are left out of the map: the other stage-4 fusion convs, ``last_cls.func_list.*``,
``cls_head_conv_list.*``, ``conv_last.*`` and ``fc.*`` (legacy: ``out.*``). SE-HRNet files
(``...se.fc_squeeze`` / ``se.squeeze`` tensors) are refused: their convs were trained with SE
blocks this backbone does not have.
"""

from __future__ import annotations

from simdr_lib.errors import ConfigError

__all__ = ["PADDLECLAS_LAYOUTS", "SE_MARKERS", "paddleclas_hrnet_name_map"]

_BN_TENSORS = ("weight", "bias", "_mean", "_variance")
_PC_STAGE_MODULES = {2: 1, 3: 4, 4: 3}  # PaddleClas st2 / st3 / st4 modules
_PC_BLOCKS = 4  # BasicBlocks per branch
#: layout name -> (conv attribute, BN attribute, transition names tr1_1, tr1_2, tr2, tr3)
PADDLECLAS_LAYOUTS: dict[str, tuple[str, str, tuple[str, str, str, str]]] = {
    "paddleclas": ("conv", "bn", ("conv_tr1_1", "conv_tr1_2", "conv_tr2", "conv_tr3")),
    "paddleclas-legacy": ("_conv", "_batch_norm", ("tr1_1", "tr1_2", "tr2", "tr3")),
}
SE_MARKERS = (".se.fc_squeeze.", ".se.squeeze.")


def paddleclas_hrnet_name_map(width: int, layout: str = "paddleclas") -> dict[str, str]:
    """PaddleClas ``HRNet_W{width}_C`` tensor name -> our HRNet backbone name.

    ``layout`` is ``"paddleclas"`` (current file) or ``"paddleclas-legacy"``. Names do not
    depend on ``width`` (shapes do, and the loader checks them); it is validated and kept so
    callers state which network they map. Classification-only tensors are omitted.
    Example: ``st2.stage_func_list.0.basic_block_list.1.0.conv1.bn._mean`` ->
    ``stage2.0.branches.1.0.bn1._mean``.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise ConfigError(f"HRNet width must be a positive integer, got {width!r}")
    if layout not in PADDLECLAS_LAYOUTS:
        raise ConfigError(
            f"unknown PaddleClas layout {layout!r}; one of {list(PADDLECLAS_LAYOUTS)}"
        )
    conv_attr, bn_attr, transitions = PADDLECLAS_LAYOUTS[layout]
    out: dict[str, str] = {}
    for src, conv_dst, bn_dst in [*_stem_units(transitions), *_stage_units()]:
        out[f"{src}.{conv_attr}.weight"] = f"{conv_dst}.weight"
        for t in _BN_TENSORS:
            out[f"{src}.{bn_attr}.{t}"] = f"{bn_dst}.{t}"
    return out


def _stem_units(transitions: tuple[str, str, str, str]) -> list[tuple[str, str, str]]:
    """``(PaddleClas unit, our conv, our BN)`` of the stem, stage 1 and the transitions."""
    units = [
        ("conv_layer1_1", "stem.conv1", "stem.bn1"),
        ("conv_layer1_2", "stem.conv2", "stem.bn2"),
    ]
    for b in range(4):
        for c in (1, 2, 3):
            units.append((f"layer1.{b}.conv{c}", f"stage1.{b}.conv{c}", f"stage1.{b}.bn{c}"))
    units.append(("layer1.0.conv_down", "stage1.0.downsample.0", "stage1.0.downsample.1"))
    tr1_1, tr1_2, tr2, tr3 = transitions
    units += [
        (tr1_1, "transition1.0.0", "transition1.0.1"),
        (tr1_2, "transition1.1.0.0", "transition1.1.0.1"),
        (tr2, "transition2.2.0.0", "transition2.2.0.1"),
        (tr3, "transition3.3.0.0", "transition3.3.0.1"),
    ]
    return units


def _stage_units() -> list[tuple[str, str, str]]:
    """``(PaddleClas unit, our conv, our BN)`` of the BasicBlocks and fusions of stages 2-4."""
    units = []
    for stage, modules in _PC_STAGE_MODULES.items():
        n = stage  # stage s has s branches
        for m in range(modules):
            src_mod = f"st{stage}.stage_func_list.{m}"
            dst_mod = f"stage{stage}.{m}"
            for b in range(n):
                for k in range(_PC_BLOCKS):
                    src = f"{src_mod}.basic_block_list.{b}.{k}"
                    dst = f"{dst_mod}.branches.{b}.{k}"
                    for c in (1, 2):
                        units.append((f"{src}.conv{c}", f"{dst}.conv{c}", f"{dst}.bn{c}"))
            # our last stage-4 module fuses into branch 0 only
            n_out = 1 if (stage == 4 and m == modules - 1) else n
            units += _fusion_units(src_mod, dst_mod, n, n_out)
    return units


def _fusion_units(src_mod: str, dst_mod: str, n: int, n_out: int) -> list[tuple[str, str, str]]:
    """Fusion convs of one module with ``n`` branches, of which the first ``n_out`` are kept.

    PaddleClas numbers them flat (``residual_func_list.{r}``) in (output i, input j, step) order.
    """
    units = []
    r = 0
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            steps = [None] if j > i else list(range(i - j))
            for s in steps:
                if i < n_out:
                    dst = f"{dst_mod}.fuse_layers.{i}.{j}" + ("" if s is None else f".{s}")
                    units.append(
                        (f"{src_mod}.fuse_func.residual_func_list.{r}", f"{dst}.0", f"{dst}.1")
                    )
                r += 1
    return units
