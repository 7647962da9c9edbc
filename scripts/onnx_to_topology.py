#!/usr/bin/python3
"""Writes the Conv and Gemm/MatMul layers of an ONNX model as a SCALE-Sim topology CSV (conv form).

usage: scripts/onnx_to_topology.py MODEL.onnx -o LAYERS.csv [--batch-as-pixels]

Each Conv becomes one row. SCALE-Sim has no padding: its output size is
ceil((ifmap - filter + stride) / stride), so the row's IFMAP size is the extent the filter windows
actually cover, (out - 1) * stride + filter, which gives the model's true output size (and M).
Grouped convolutions other than depthwise are written as one layer per group; depthwise ones get
"DP" in their name (SCALE-Sim's convention: one single-channel layer per channel). Gemm and
MatMul with a constant right-hand side become 1 x 1 convolutions over an M x 1 input.
Needs Debian's python3-onnx.
"""
import argparse
import sys

import onnx
from onnx import numpy_helper, shape_inference


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    try:
        m = shape_inference.infer_shapes(onnx.load(a.model))
    except Exception as e:  # noqa: BLE001 - report any reader error with the file name
        sys.exit(f"{a.model}: cannot read the model: {e}")
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    rows = []
    for i, n in enumerate(m.graph.node):
        name = (n.name or f"{n.op_type}_{i}").replace(",", "_")
        if n.op_type == "Conv":
            w = inits.get(n.input[1])
            out = shapes.get(n.output[0])
            if w is None or not out or len(out) != 4 or 0 in out:
                sys.exit(f"{a.model}: node {name}: needs constant weights and a known 4-D output shape")
            f, cg, kh, kw = w.shape
            sh, sw = (attr(n, "strides", [1, 1]) + [1, 1])[:2]
            dh, dw = (attr(n, "dilations", [1, 1]) + [1, 1])[:2]
            group = attr(n, "group", 1)
            ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1  # dilated extent (SCALE-Sim has no dilation)
            oh, ow = out[2], out[3]
            ih, iw = (oh - 1) * sh + ekh, (ow - 1) * sw + ekw
            if group == 1:
                rows.append((name, ih, iw, kh, kw, cg, f, sh, sw))
            elif cg == 1 and f == group:
                rows.append((name + "_DP", ih, iw, kh, kw, group, 1, sh, sw))
            else:
                for g in range(group):
                    rows.append((f"{name}_g{g}", ih, iw, kh, kw, cg, f // group, sh, sw))
        elif n.op_type in ("Gemm", "MatMul") and n.input[1] in inits:
            w = inits[n.input[1]]
            k, nn = (w.shape[1], w.shape[0]) if n.op_type == "Gemm" and attr(n, "transB", 0) else w.shape[-2:]
            shp = shapes.get(n.input[0]) or [1]
            mm = 1
            for d in shp[:-1]:
                mm *= d or 1
            rows.append((name, mm, 1, 1, 1, k, nn, 1, 1))
    if not rows:
        sys.exit(f"{a.model}: no Conv, Gemm or MatMul layers")
    with open(a.output, "w") as f:
        f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                "Stride height, Stride width,\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + ",\n")
    print(f"{a.output}: {len(rows)} layers from {a.model}")


if __name__ == "__main__":
    main()
