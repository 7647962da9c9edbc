#!/usr/bin/python3
"""Transformer and speech building blocks through `npusim run --no-fallback` on edge and datacenter
in fp16, against torch's float32 output (NumPy's for the ONNX-built cases):
- LayerNorm: opset 17 LayerNormalization, and the decomposed opset 14 form that graph preparation
  fuses into one operator (also with d * d for the square; not when an intermediate has another
  use); rows of 4096 (chunks);
  ONNX-built ones with computed or constant scale and bias, no bias, Mean and InvStdDev outputs,
  rows of 8192, 5000 rows;
- attention (Q.K^T with K^T from a Transpose, Softmax, P.V, heads as 4-D batched MatMuls), and
  batched MatMuls whose batch dimensions broadcast;
- Softmax/LogSoftmax over an inner axis, over rows of 6000 (chunks), and of images (over channels
  feeding a Conv, over channels and H into row-major outputs);
- the Reduce operators on rows, on images (a global mean over H, W, a sum over channels, a max over
  H and a mean over W into row-major tensors, an SE-style mean feeding a Conv), and in two stages
  past 4095 elements;
- Conv1d (padding, stride, dilation, groups; ONNX-built ones with auto_pad SAME_UPPER, SAME_LOWER,
  VALID, depthwise, batch 3).
Each must be within fp16 rounding: |got - want| <= 8 x 2^-10 x max(1, |want|) element-wise, and
the stats must show no host operator. The float reference (compiler/reference.cpp, which int8
calibration runs) is checked on the torch models: `--precision int8 --calibrate` reports the
accuracy of the run against it (these operators stay float), cosine >= 0.9999.

usage: check_transformer.py NPUSIM REPO_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
TOL = 8 * 2.0**-10


class LayerNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(64)
        with torch.no_grad():
            self.ln.weight.uniform_(0.5, 1.5)
            self.ln.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.ln(x)


class LayerNorm2(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm((16, 64))
        with torch.no_grad():
            self.ln.weight.uniform_(0.5, 1.5)
            self.ln.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.ln(x)


class LayerNormWide(nn.Module):
    """Rows of 4096 elements: normalized in chunks of 2048."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(4096)
        with torch.no_grad():
            self.ln.weight.uniform_(0.5, 1.5)
            self.ln.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.ln(x)


class LayerNormPlain(nn.Module):
    def forward(self, x):
        return nn.functional.layer_norm(x, (64,))  # no scale or bias


class LayerNormShared(nn.Module):
    """A hand-written LayerNorm whose centred x is used once more: graph preparation must not fuse it."""

    def __init__(self):
        super().__init__()
        self.g = nn.Parameter(torch.rand(64) + 0.5)

    def forward(self, x):
        d = x - x.mean(-1, keepdim=True)
        return d / torch.sqrt(d.pow(2).mean(-1, keepdim=True) + 1e-5) * self.g + d


class LayerNormMulSquare(nn.Module):
    """A hand-written LayerNorm squaring with d * d (Mul) rather than Pow: fused too."""

    def __init__(self):
        super().__init__()
        self.g = nn.Parameter(torch.rand(64) + 0.5)
        self.b = nn.Parameter(torch.rand(64) - 0.5)

    def forward(self, x):
        d = x - x.mean(-1, keepdim=True)
        return d / torch.sqrt((d * d).mean(-1, keepdim=True) + 1e-5) * self.g + self.b


class Attention(nn.Module):
    def __init__(self, d=64, heads=4):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        q = self.q(x).view(b, t, h, d // h).transpose(1, 2)
        k = self.k(x).view(b, t, h, d // h).transpose(1, 2)
        v = self.v(x).view(b, t, h, d // h).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        return (p @ v).transpose(1, 2).reshape(b, t, d)


class MatMulBroadcast(nn.Module):
    """Batched MatMuls of computed operands whose batch dimensions broadcast (missing and size 1)."""

    def forward(self, x):  # x [2, 3, 4, 5]
        a = x @ x.mean(dim=0).transpose(-2, -1)  # [2, 3, 4, 5] x [3, 5, 4]
        b = x @ x.mean(dim=1, keepdim=True).transpose(-2, -1)  # [2, 3, 4, 5] x [2, 1, 5, 4]
        return torch.cat([a, b], dim=-1)


class SoftmaxInner(nn.Module):
    def forward(self, x):
        return torch.softmax(x.view(1, 4, 16, 16), dim=1)


class LogSoftmaxInner(nn.Module):
    def forward(self, x):
        return torch.log_softmax(x, dim=1)


class ImageSoftmax(nn.Module):
    """Softmax of images: over channels (the NHWC rows) feeding a Conv and as an output, over H."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.c1(x)
        a = self.c2(torch.softmax(y, dim=1))
        return torch.cat([torch.softmax(a, dim=1), torch.log_softmax(a, dim=2)], dim=1)


class SoftmaxWide(nn.Module):
    def forward(self, x):  # rows of 6000: chunks of 3000
        return torch.softmax(x, dim=-1)


class LogSoftmaxWide(nn.Module):
    def forward(self, x):
        return torch.log_softmax(x, dim=-1)


class Reduces(nn.Module):
    def forward(self, x):
        return torch.cat([x.mean(dim=1), x.sum(dim=-1), x.amax(dim=1), x.amin(dim=1), x.logsumexp(dim=1),
                          x.norm(dim=-1)], dim=-1)


class ReduceLarge(nn.Module):
    def forward(self, x):  # 8192 elements per output: two stages of 2048 and 4
        return torch.cat([x.mean(dim=(1, 2)), x.sum(dim=(1, 2)) / 100, x.amax(dim=(1, 2)), x.amin(dim=(1, 2))])


class ReduceOuter(nn.Module):
    def forward(self, x):
        return x.mean(dim=(0, 2), keepdim=True)  # two axes that are not adjacent


class ImageReduce(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.se = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        se = self.se(y.mean(dim=(2, 3), keepdim=True))  # an image mean feeding an image operator
        return torch.cat([y.mean(dim=(2, 3)), y.sum(dim=1, keepdim=True).flatten(1), se.flatten(1),
                          y.amax(dim=2).flatten(1), y.mean(dim=3, keepdim=True).flatten(1)], dim=1)


class Conv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(16, 32, 3, padding=1)
        self.c2 = nn.Conv1d(32, 32, 3, stride=2, padding=2, dilation=2, groups=2)
        self.c3 = nn.Conv1d(32, 8, 1, bias=False)

    def forward(self, x):
        return self.c3(torch.relu(self.c2(torch.relu(self.c1(x)))))


# name -> (module, example input shape, opset[, input scale])
CASES = {
    "layernorm_opset17": (LayerNorm, (1, 16, 64), 17),
    "layernorm_opset14": (LayerNorm, (1, 16, 64), 14),
    "layernorm_2axes_opset17": (LayerNorm2, (2, 16, 64), 17),
    "layernorm_2axes_opset14": (LayerNorm2, (2, 16, 64), 14),
    "layernorm_plain_opset14": (LayerNormPlain, (2, 16, 64), 14),
    "layernorm_wide_opset17": (LayerNormWide, (1, 8, 4096), 17),
    "layernorm_wide_opset14": (LayerNormWide, (1, 8, 4096), 14),
    "layernorm_shared_opset14": (LayerNormShared, (2, 16, 64), 14),
    "layernorm_mulsquare_opset14": (LayerNormMulSquare, (2, 16, 64), 14),
    "attention": (Attention, (1, 16, 64), 14, 0.5),
    "matmul_broadcast": (MatMulBroadcast, (2, 3, 4, 5), 14, 0.5),
    "softmax_axis1": (SoftmaxInner, (1, 16, 64), 14),
    "logsoftmax_axis1": (LogSoftmaxInner, (2, 8, 24), 14),
    "image_softmax": (ImageSoftmax, (1, 3, 8, 8), 13),
    "softmax_wide": (SoftmaxWide, (2, 6000), 14),
    "logsoftmax_wide": (LogSoftmaxWide, (2, 6000), 14),
    "reduces": (Reduces, (2, 8, 24), 13),
    "reduce_outer": (ReduceOuter, (2, 8, 24), 13),
    "reduce_large": (ReduceLarge, (2, 8, 1024), 13),
    "image_reduce": (ImageReduce, (1, 3, 8, 8), 13),
    "conv1d": (Conv1d, (1, 16, 40), 13),
}

failures = 0
for name, (make, shape, opset, *scale) in CASES.items():
    torch.manual_seed(0)
    model = make().eval()
    # An offset and a spread the normalizations remove; attention logits stay moderate (fp16 inputs).
    x = torch.randn(*shape) * 0.5 if scale else torch.randn(*shape) * 3 + 1
    with torch.no_grad():
        want = model(x).numpy()
    path = os.path.join(WORK, name + ".onnx")
    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=opset)
    np.save(os.path.join(WORK, name + ".x.npy"), x.numpy())
    for config in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, f"{name}.{config}")
        cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--no-fallback", "--quiet",
               "--input", "x=" + os.path.join(WORK, name + ".x.npy"), "--output-dir", out, "--stats", out + ".json"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL {name} on {config}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
            failures += 1
            continue
        got = np.load(os.path.join(out, "y.npy"))
        stats = json.load(open(out + ".json"))
        err = float((np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))).max())
        ok = got.shape == want.shape and err <= TOL and not stats["fallback"]["host_operators"]
        # The decomposed opset 14 LayerNorms are fused into one node (one operator); the shared one is not.
        nodes = len(stats["operators"])
        if name.startswith("layernorm") and name.endswith("opset14"):
            ok = ok and (nodes > 1 if "shared" in name else nodes == 1)
        print(f"{'ok' if ok else 'FAIL'} {name} on {config}: max rel err {err:.3g}, {nodes} operator(s), "
              f"{stats['total_cycles']} cycles")
        failures += not ok
    # The float reference: a calibrated int8 run reports its accuracy against it.
    cal = os.path.join(WORK, name + ".cal")
    os.makedirs(cal, exist_ok=True)
    np.save(os.path.join(cal, "x.npy"), x.numpy())
    out = os.path.join(WORK, f"{name}.int8")
    p = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"), path, "--quiet",
                        "--precision", "int8", "--calibrate", cal, "--input", "x=" + os.path.join(cal, "x.npy"),
                        "--output-dir", out, "--stats", out + ".json"], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"FAIL {name} int8 (reference): exit {p.returncode}: {p.stderr.strip()[-300:]}")
        failures += 1
        continue
    cosine = json.load(open(out + ".json"))["accuracy"]["outputs"]["y"]["cosine_similarity"]
    print(f"{'ok' if cosine >= 0.9999 else 'FAIL'} {name} against the float reference: cosine {cosine:.8f}")
    failures += cosine < 0.9999

# Conv1d as ONNX writes it with auto_pad (torch exports explicit pads), depthwise and batch > 1,
# against torch's conv1d on the explicitly padded input.
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

CONV1D = [dict(N=2, C=8, L=20, Co=8, K=5, stride=1, dil=1, group=8, auto_pad="SAME_UPPER"),
          dict(N=1, C=6, L=33, Co=4, K=3, stride=3, dil=2, group=2, auto_pad="VALID"),
          dict(N=1, C=4, L=16, Co=6, K=4, stride=2, dil=1, group=1, auto_pad="SAME_LOWER"),
          dict(N=3, C=5, L=9, Co=7, K=1, stride=1, dil=1, group=1, pads=[2, 1])]
rng = np.random.default_rng(0)
for i, c in enumerate(CONV1D):
    x = rng.standard_normal((c["N"], c["C"], c["L"])).astype(np.float32)
    w = rng.standard_normal((c["Co"], c["C"] // c["group"], c["K"])).astype(np.float32)
    b = rng.standard_normal(c["Co"]).astype(np.float32)
    attrs = dict(strides=[c["stride"]], dilations=[c["dil"]], group=c["group"], kernel_shape=[c["K"]])
    extent = (c["K"] - 1) * c["dil"] + 1
    if "pads" in c:
        pads = c["pads"]
        attrs["pads"] = pads
    elif c["auto_pad"] == "VALID":
        pads = [0, 0]
        attrs["auto_pad"] = "VALID"
    else:  # SAME: output length ceil(L / stride), the odd padding at the end (UPPER) or start (LOWER)
        total = max((-(-c["L"] // c["stride"]) - 1) * c["stride"] + extent - c["L"], 0)
        pads = [total // 2, total - total // 2] if c["auto_pad"] == "SAME_UPPER" else [total - total // 2, total // 2]
        attrs["auto_pad"] = c["auto_pad"]
    want = nn.functional.conv1d(torch.tensor(np.pad(x, ((0, 0), (0, 0), tuple(pads)))), torch.tensor(w),
                                torch.tensor(b), stride=c["stride"], dilation=c["dil"], groups=c["group"]).numpy()
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)], "conv1d",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(want.shape))],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    name = f"conv1d_onnx{i}"
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    np.save(os.path.join(WORK, name + ".x.npy"), x)
    for config in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, f"{name}.{config}")
        p = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--no-fallback",
                            "--quiet", "--input", "x=" + os.path.join(WORK, name + ".x.npy"), "--output-dir", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL {name} on {config}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
            failures += 1
            continue
        got = np.load(os.path.join(out, "y.npy"))
        err = float((np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))).max())
        ok = got.shape == want.shape and err <= TOL
        print(f"{'ok' if ok else 'FAIL'} {name} ({c}) on {config}: max rel err {err:.3g}")
        failures += not ok

# LayerNormalization as ONNX writes it: scale and bias computed (graph inputs) or constant, without
# bias, the Mean and InvStdDev outputs, rows longer than 4095 and more than 4095 rows, against NumPy.
LAYERNORM = [dict(shape=[4, 64], axis=-1, computed=True, bias=False, stats=True),
             dict(shape=[2, 8192], axis=-1, computed=True, bias=True, stats=True),
             dict(shape=[3, 5, 7], axis=1, computed=False, bias=False, stats=False),
             dict(shape=[5000, 32], axis=-1, computed=False, bias=True, stats=True)]
for i, c in enumerate(LAYERNORM):
    shape, axis = c["shape"], c["axis"] % len(c["shape"])
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    norm = shape[axis:]
    g = rng.uniform(0.5, 1.5, norm).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, norm).astype(np.float32)
    axes = tuple(range(axis, len(shape)))
    mean = x.astype(np.float64).mean(axes, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(axes, keepdims=True) + 1e-5)
    want = {"y": (x - mean) * rstd * g + (b if c["bias"] else 0), "mean": mean, "rstd": rstd}
    outs = ["y", "mean", "rstd"] if c["stats"] else ["y"]
    names = ["x", "g"] + (["b"] if c["bias"] else [])
    data = {"x": x, "g": g, "b": b}
    inputs = [n for n in names if n == "x" or c["computed"]]
    graph = helper.make_graph(
        [helper.make_node("LayerNormalization", names, outs, axis=c["axis"], epsilon=1e-5)], "layernorm",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(data[n].shape)) for n in inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(want[o].shape)) for o in outs],
        [numpy_helper.from_array(data[n], n) for n in names if n not in inputs])
    name = f"layernorm_onnx{i}"
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    args = []
    for n in inputs:
        np.save(os.path.join(WORK, f"{name}.{n}.npy"), data[n])
        args += ["--input", f"{n}={os.path.join(WORK, f'{name}.{n}.npy')}"]
    for config in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, f"{name}.{config}")
        p = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--no-fallback",
                            "--quiet", "--output-dir", out] + args, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL {name} on {config}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
            failures += 1
            continue
        errs = {}
        for o in outs:
            got = np.load(os.path.join(out, o + ".npy")).astype(np.float64)
            errs[o] = float((np.abs(got - want[o]) / np.maximum(1.0, np.abs(want[o]))).max()) \
                if got.shape == want[o].shape else float("inf")
        ok = max(errs.values()) <= TOL
        print(f"{'ok' if ok else 'FAIL'} {name} ({c}) on {config}: max rel err " +
              ", ".join(f"{o} {e:.3g}" for o, e in errs.items()))
        failures += not ok
print(f"transformer blocks: {len(CASES)} models x 2 configs and the reference, {len(CONV1D)} ONNX Conv1d and "
      f"{len(LAYERNORM)} ONNX LayerNormalization cases, {failures} failure(s)")
sys.exit(1 if failures else 0)
