#!/usr/bin/python3
"""ConvTranspose beyond the ONNX backend cases (which have one input channel): several channels,
a bias, strides, pads, output_padding, dilations, and a layer large enough to be tiled; torch's
ConvTranspose1d and ConvTranspose2d with groups (against torch, exported by torch.onnx.export); on the
bundled configs in fp16 with --no-fallback, against a NumPy scatter-add reference. Tolerance: the
products are summed in fp32 from fp16 operands, so |got - want| <= 8 x 2^-10 x max(1, |want|)
plus the inputs' and weights' rounding to fp16 over the sum, 2^-11 x sum |x w| per element.

usage: check_deconv.py NPUSIM REPO_DIR WORK_DIR
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
rng = np.random.default_rng(5)
failures = 0


def reference(x, w, b, s, d, begin, out_hw):
    """Y[n, co, oh, ow] += x[n, c, h, w] W[c, co, kh, kw] at oh = h s + kh d - begin (and |x w| sums)."""
    N, C, H, W = x.shape
    Co, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    full = np.zeros((N, Co, (H - 1) * s[0] + (KH - 1) * d[0] + 1 + out_hw[0], (W - 1) * s[1] + (KW - 1) * d[1] + 1 + out_hw[1]))
    mag = np.zeros_like(full)
    for kh in range(KH):
        for kw in range(KW):
            contrib = np.einsum("nchw,co->nohw", x, w[:, :, kh, kw])
            absc = np.einsum("nchw,co->nohw", np.abs(x), np.abs(w[:, :, kh, kw]))
            r0, c0 = kh * d[0], kw * d[1]
            full[:, :, r0:r0 + (H - 1) * s[0] + 1:s[0], c0:c0 + (W - 1) * s[1] + 1:s[1]] += contrib
            mag[:, :, r0:r0 + (H - 1) * s[0] + 1:s[0], c0:c0 + (W - 1) * s[1] + 1:s[1]] += absc
    return full, mag, b


def case(name, N, C, H, W, Co, K, s, pads, out_pad=(0, 0), d=(1, 1)):
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((C, Co, K[0], K[1])) / np.sqrt(C * K[0] * K[1])).astype(np.float32)
    b = rng.standard_normal(Co).astype(np.float32)
    OH = (H - 1) * s[0] + out_pad[0] + (K[0] - 1) * d[0] + 1 - pads[0] - pads[2]
    OW = (W - 1) * s[1] + out_pad[1] + (K[1] - 1) * d[1] + 1 - pads[1] - pads[3]
    full, mag, _ = reference(x.astype(np.float64), w.astype(np.float64), b, s, d, pads[:2], out_pad)
    want = full[:, :, pads[0]:pads[0] + OH, pads[1]:pads[1] + OW] + b[None, :, None, None]
    mag = mag[:, :, pads[0]:pads[0] + OH, pads[1]:pads[1] + OW]
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=list(s), pads=list(pads),
                            output_padding=list(out_pad), dilations=list(d))
    g = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, W])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, Co, OH, OW])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    np.save(path + ".x.npy", x)
    global failures
    for cfg in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, name + "." + cfg)
        r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", cfg), path, "--no-fallback",
                            "--input", "x=" + path + ".x.npy", "--output-dir", out],
                           capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL {name} on {cfg}: {r.stderr.strip()}")
            failures += 1
            continue
        got = np.load(os.path.join(out, os.listdir(out)[0]))
        tol = 8 * 2.0**-10 * np.maximum(1, np.abs(want)) + 2.0**-11 * mag
        ok = got.shape == want.shape and (np.abs(got - want) <= tol).all()
        cycles = r.stdout.split(": ")[1].split(" cycles")[0] if ": " in r.stdout else "?"
        print(("ok   " if ok else "FAIL ") + f"{name} on {cfg}: max |err| {np.abs(got - want).max():.3g}, {cycles} cycles")
        failures += 0 if ok else 1


case("deconv_s2_p1_op1", 1, 16, 9, 11, 24, (3, 3), (2, 2), (1, 1, 1, 1), out_pad=(1, 1))
case("deconv_k4_s2_p1", 2, 8, 6, 5, 12, (4, 4), (2, 2), (1, 1, 1, 1))
case("deconv_dilated_s3", 1, 5, 4, 6, 7, (3, 2), (3, 1), (0, 1, 2, 0), d=(2, 3))
case("deconv_stride1", 1, 6, 7, 7, 10, (3, 3), (1, 1), (1, 1, 1, 1))
case("deconv_tiled", 1, 96, 16, 16, 80, (4, 4), (2, 2), (1, 1, 1, 1))


def torch_case(name, module, x):
    """A torch ConvTranspose1d/2d (groups too) exported by torch.onnx.export, against torch; the
    magnitude term of the tolerance is the same layer run on |x| with |W| (no bias)."""
    global failures
    import torch
    path = os.path.join(WORK, name + ".onnx")
    xt = torch.from_numpy(x)
    torch.onnx.export(module, (xt,), path, input_names=["x"], output_names=["y"], opset_version=13)
    with torch.no_grad():
        want = module(xt).double().numpy()
        absm = type(module)(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                            padding=module.padding, output_padding=module.output_padding, groups=module.groups,
                            bias=False, dilation=module.dilation)
        absm.weight.copy_(module.weight.abs())
        mag = absm(xt.abs()).double().numpy()
    np.save(path + ".x.npy", x)
    for cfg in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, name + "." + cfg)
        r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", cfg), path, "--no-fallback",
                            "--input", "x=" + path + ".x.npy", "--output-dir", out], capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL {name} on {cfg}: {r.stderr.strip()}")
            failures += 1
            continue
        got = np.load(os.path.join(out, "y.npy"))
        tol = 8 * 2.0**-10 * np.maximum(1, np.abs(want)) + 2.0**-11 * mag
        ok = got.shape == want.shape and (np.abs(got - want) <= tol).all()
        cycles = r.stdout.split(": ")[1].split(" cycles")[0] if ": " in r.stdout else "?"
        print(("ok   " if ok else "FAIL ") + f"{name} on {cfg}: max |err| {np.abs(got - want).max():.3g}, {cycles} cycles")
        failures += 0 if ok else 1


import torch  # noqa: E402

torch.manual_seed(5)
torch_case("torch_deconv1d_s2", torch.nn.ConvTranspose1d(12, 20, 4, stride=2, padding=1).eval(),
           rng.standard_normal((2, 12, 17)).astype(np.float32))
torch_case("torch_deconv1d_groups_dilated", torch.nn.ConvTranspose1d(8, 12, 3, stride=3, padding=2, output_padding=1,
                                                                     groups=4, dilation=2).eval(),
           rng.standard_normal((1, 8, 10)).astype(np.float32))
torch_case("torch_deconv2d_groups", torch.nn.ConvTranspose2d(16, 24, 3, stride=2, padding=1, output_padding=1,
                                                             groups=4).eval(),
           rng.standard_normal((1, 16, 7, 9)).astype(np.float32))
torch_case("torch_deconv2d_depthwise", torch.nn.ConvTranspose2d(6, 6, (2, 3), stride=(2, 1), groups=6).eval(),
           rng.standard_normal((2, 6, 5, 4)).astype(np.float32))
print("all passed" if not failures else f"{failures} failed")
sys.exit(1 if failures else 0)
