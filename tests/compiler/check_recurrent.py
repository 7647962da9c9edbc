#!/usr/bin/python3
"""LSTM, GRU and RNN unrolled by graph preparation (compiler/recurrent.cpp), through
`npusim run model.onnx --no-fallback` on edge and datacenter in fp16, against a NumPy reference
of the ONNX definitions.

The reference is checked first against the ONNX backend node cases' expected outputs (all twelve
LSTM/GRU/RNN cases, including peepholes and layout 1), so the cases below test the compiler and not
a second reading of the same equations. The cases cover what the ONNX suite does not: random
weights, batch > 1, reverse and bidirectional directions, computed and constant (non-zero) initial
states, GRU linear_before_reset 0 and 1, layout 1 with batch > 1, Relu activations, a sequence of
one step, all outputs, and two stacked layers as torch exports them (zero states from
Shape/Gather/Unsqueeze/Concat/Expand, a Squeeze between the layers). Every generated operator must be named after its recurrent node (the
per-operator stats say so). The *_bad cases must be errors (exit 2) naming the node and the cause.

Tolerance: the bound of the ONNX conformance test, |got - want| <= 8 x 2^-10 x max(1, |want|): fp16
storage compounded over the steps stays within it because the gates lie in (0, 1) and the states
are bounded by tanh (the measured maximum, printed per case, is about 1e-3 with these weights).

usage: check_recurrent.py NPUSIM REPO_DIR WORK_DIR
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np

for _name, _type in (("float", float), ("int", int), ("bool", bool), ("object", object), ("complex", complex)):
    if not hasattr(np, _name):  # ONNX 1.12's generators use aliases NumPy 1.24 removed
        setattr(np, _name, _type)

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
rng = np.random.default_rng(5)
TOL = 8 * 2.0**-10
failures = 0
ACT = {"Sigmoid": lambda x: 1 / (1 + np.exp(-x)), "Tanh": np.tanh, "Relu": lambda x: np.maximum(x, 0)}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def reference(op, x, w, r, b=None, h0=None, c0=None, p=None, direction="forward", layout=0, lbr=0, acts=None):
    """Y, Y_h (and Y_c for LSTM) of the ONNX operator, in float64."""
    x = x.astype(np.float64)
    if layout:
        x = x.swapaxes(0, 1)
        h0 = None if h0 is None else h0.swapaxes(0, 1)
        c0 = None if c0 is None else c0.swapaxes(0, 1)
    seq, batch, _ = x.shape
    dirs, gh, _ = w.shape
    g_count = GATES[op]
    hidden = gh // g_count
    per = {"LSTM": 3, "GRU": 2, "RNN": 1}[op]
    default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}[op]
    acts = acts or default * dirs
    b = np.zeros((dirs, 2 * gh)) if b is None else b
    h0 = np.zeros((dirs, batch, hidden)) if h0 is None else h0
    c0 = np.zeros((dirs, batch, hidden)) if c0 is None else c0
    p = np.zeros((dirs, 3 * hidden)) if p is None else p
    y = np.zeros((seq, dirs, batch, hidden))
    yh, yc = np.zeros((dirs, batch, hidden)), np.zeros((dirs, batch, hidden))
    for d in range(dirs):
        # (an activation the compiler rejects, in the *_bad cases, is never compared)
        f, g, hf = [ACT.get(a, np.tanh) for a in (acts[d * per:(d + 1) * per] + ["Tanh"] * 3)[:3]]
        wd, rd, wb, rb = w[d], r[d], b[d, :gh], b[d, gh:]
        h, c = h0[d].astype(np.float64), c0[d].astype(np.float64)
        steps = range(seq - 1, -1, -1) if direction == "reverse" or d == 1 else range(seq)
        for t in steps:
            xt = x[t]
            blk = lambda m, k: m[k * hidden:(k + 1) * hidden]  # noqa: E731  (gate k's rows)
            if op == "LSTM":
                pre = xt @ wd.T + h @ rd.T + wb + rb  # [batch, 4 hidden], gates i, o, f, c
                gate = lambda k: pre[:, k * hidden:(k + 1) * hidden]  # noqa: E731
                i = f(gate(0) + p[d, :hidden] * c)
                fg = f(gate(2) + p[d, 2 * hidden:] * c)
                cc = g(gate(3))
                c = fg * c + i * cc
                o = f(gate(1) + p[d, hidden:2 * hidden] * c)
                h = o * hf(c)
            elif op == "GRU":
                z = f(xt @ blk(wd, 0).T + h @ blk(rd, 0).T + blk(wb, 0) + blk(rb, 0))
                rr = f(xt @ blk(wd, 1).T + h @ blk(rd, 1).T + blk(wb, 1) + blk(rb, 1))
                if lbr:
                    n = g(xt @ blk(wd, 2).T + rr * (h @ blk(rd, 2).T + blk(rb, 2)) + blk(wb, 2))
                else:
                    n = g(xt @ blk(wd, 2).T + (rr * h) @ blk(rd, 2).T + blk(rb, 2) + blk(wb, 2))
                h = (1 - z) * n + z * h
            else:
                h = f(xt @ wd.T + h @ rd.T + wb + rb)
            y[t, d] = h
        yh[d], yc[d] = h, c
    if layout:
        y, yh, yc = y.transpose(2, 0, 1, 3), yh.swapaxes(0, 1), yc.swapaxes(0, 1)
    return [y, yh, yc] if op == "LSTM" else [y, yh]


def check_reference():
    """The NumPy reference against the ONNX backend cases' expected outputs."""
    global failures
    data = os.path.join(WORK, "onnxdata")
    if not os.path.isdir(os.path.join(data, "node")):
        from onnx.backend.test.cmd_tools import main
        sys.argv = ["cmd_tools", "generate-data", "-o", data]
        main()
    cases = [c for c in sorted(glob.glob(os.path.join(data, "node", "test_*")))
             if os.path.basename(c).split("_")[1] in ("lstm", "gru", "rnn", "simple")]
    for case in cases:
        m = onnx.load(os.path.join(case, "model.onnx"))
        node = m.graph.node[0]
        ins = [numpy_helper.to_array(onnx.load_tensor(f)) for f in sorted(glob.glob(case + "/test_data_set_0/input_*.pb"))]
        outs = [numpy_helper.to_array(onnx.load_tensor(f)) for f in sorted(glob.glob(case + "/test_data_set_0/output_*.pb"))]
        named = dict(zip([i for i in node.input], ins))
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        arg = lambda k: named.get(node.input[k]) if k < len(node.input) and node.input[k] else None  # noqa: E731
        got = reference(node.op_type, arg(0), arg(1), arg(2), arg(3), arg(5), arg(6), arg(7),
                        layout=attrs.get("layout", 0), lbr=attrs.get("linear_before_reset", 0))
        got = [g for g, name in zip(got, node.output) if name]
        err = max(float(np.abs(g - o).max()) for g, o in zip(got, outs))
        ok = err < 1e-5
        print(f"reference vs {os.path.basename(case)}: max err {err:.1e}", "ok" if ok else "FAIL")
        failures += not ok
    if len(cases) != 12:
        print(f"FAIL: expected the 12 ONNX LSTM/GRU/RNN cases, found {len(cases)}")
        failures += 1


def model(name, op, seq, batch, inp, hidden, direction="forward", layout=0, lbr=0, initial="none", peephole=False,
          acts=None, outputs=(0, 1, 2), seq_lens=None, clip=None, w_input=False, fp16=False):
    """An ONNX model of one recurrent node; returns (path, inputs, reference outputs by name)."""
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    w = rng.uniform(-0.6, 0.6, (dirs, g * hidden, inp)).astype(np.float32)
    r = rng.uniform(-0.6, 0.6, (dirs, g * hidden, hidden)).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, (dirs, 2 * g * hidden)).astype(np.float32)
    p = rng.uniform(-0.5, 0.5, (dirs, 3 * hidden)).astype(np.float32) if peephole else None
    xs = (batch, seq, inp) if layout else (seq, batch, inp)
    ss = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    x = rng.standard_normal(xs).astype(np.float32)
    h0 = rng.uniform(-0.8, 0.8, ss).astype(np.float32) if initial != "none" else None
    c0 = rng.uniform(-0.8, 0.8, ss).astype(np.float32) if initial != "none" and op == "LSTM" else None
    inits = {"W": w, "R": r, "B": b}
    feeds = {"X": x}
    node_in = ["X", "W", "R", "B", "", "", ""]
    if seq_lens is not None:
        inits["seq_lens"] = np.array(seq_lens, np.int32)
        node_in[4] = "seq_lens"
    if w_input:
        feeds["W"] = inits.pop("W")
    for k, v in (("h0", h0), ("c0", c0)):
        if v is None:
            continue
        (feeds if initial == "computed" else inits)[k] = v
        node_in[5 if k == "h0" else 6] = k
    if peephole:
        inits["P"] = p
        node_in.append("P")
    while node_in and not node_in[-1]:
        node_in.pop()
    names = ["Y", "Y_h", "Y_c"][:3 if op == "LSTM" else 2]
    node_out = [names[i] if i in outputs else "" for i in range(len(names))]
    attrs = {"hidden_size": hidden, "direction": direction}
    if layout:
        attrs["layout"] = 1
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    if acts:
        attrs["activations"] = acts
    if clip is not None:
        attrs["clip"] = clip
    node = helper.make_node(op, node_in, node_out, name="rnn/" + name, **attrs)
    ref = reference(op, x, w, r, b, h0, c0, p, direction, layout, lbr, acts)
    elem = TensorProto.FLOAT
    if fp16:  # a float16 model (the *_bad case): every tensor in half precision
        elem = TensorProto.FLOAT16
        feeds = {k: v.astype(np.float16) for k, v in feeds.items()}
        inits = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in inits.items()}
    graph_in = [helper.make_tensor_value_info(k, elem, v.shape) for k, v in feeds.items()]
    graph_out = [helper.make_tensor_value_info(n, elem, ref[i].shape) for i, n in enumerate(node_out) if n]
    gr = helper.make_graph([node], name, graph_in, graph_out, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path, feeds, {n: ref[i] for i, n in enumerate(names) if n in node_out}


def run(path, feeds, config):
    out = path + "." + config
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config + ".yaml"), path, "--output-dir", out,
           "--stats", out + ".json", "--quiet", "--no-fallback", "--precision", "fp16"]
    for k, v in feeds.items():
        np.save(f"{out}.{k}.npy", v)
        cmd += ["--input", f"{k}={out}.{k}.npy"]
    return subprocess.run(cmd, capture_output=True, text=True), out


def case(name, op, *args, **kw):
    global failures
    path, feeds, want = model(name, op, *args, **kw)
    for config in ("edge", "datacenter"):
        p, out = run(path, feeds, config)
        if p.returncode != 0:
            print(f"FAIL {name} on {config}: {p.stderr.strip()}")
            failures += 1
            return
        worst, ok = 0.0, True
        for n, ref in want.items():
            got = np.load(os.path.join(out, n + ".npy")).astype(np.float64)
            if got.shape != ref.shape:
                print(f"FAIL {name} on {config}: {n} shape {got.shape} != {ref.shape}")
                ok = False
                continue
            worst = max(worst, float((np.abs(got - ref) / np.maximum(1.0, np.abs(ref))).max()))
        ops = json.load(open(out + ".json"))["operators"]
        stray = [o for o in ops if not o.startswith("rnn_" + name)]
        ok = ok and worst <= TOL and not stray
        print(f"{'ok' if ok else 'FAIL'} {name} on {config}: {', '.join(want)} max rel err {worst:.2e} "
              f"(bound {TOL:.2e}), {len(ops)} operators" + (f", not named after the node: {stray[:3]}" if stray else ""))
        failures += not ok


def bad(name, op, expect, *args, **kw):
    global failures
    path, feeds, _ = model(name, op, *args, **kw)
    p, _ = run(path, feeds, "edge")
    ok = p.returncode == 2 and "rnn/" + name in p.stderr and expect in p.stderr
    print(f"{'ok' if ok else 'FAIL'} {name}: exit {p.returncode}: {p.stderr.strip()[:220]}")
    failures += not ok


def stacked():
    """Two LSTM layers as torch exports them: zero initial states expanded to [1, batch, hidden]
    from Shape -> Gather -> Unsqueeze -> Concat (folded by preparation), and a Squeeze of the
    first layer's Y feeding the second (turned into a Reshape)."""
    global failures
    seq, batch, inp, hidden = 7, 2, 5, 6
    nodes, inits = [], {}
    zero_state = []
    for k in range(2):
        inits[f"W{k}"] = rng.uniform(-0.6, 0.6, (1, 4 * hidden, inp if k == 0 else hidden)).astype(np.float32)
        inits[f"R{k}"] = rng.uniform(-0.6, 0.6, (1, 4 * hidden, hidden)).astype(np.float32)
        inits[f"B{k}"] = rng.uniform(-0.5, 0.5, (1, 8 * hidden)).astype(np.float32)
    inits.update({"zero": np.zeros((1, 1, 1), np.float32), "one": np.array([1], np.int64),
                  "hid": np.array([hidden], np.int64), "axis0": np.array([0], np.int64),
                  "axis1": np.array([1], np.int64), "idx1": np.array(1, np.int64)})
    nodes += [helper.make_node("Shape", ["X"], ["xs"]), helper.make_node("Gather", ["xs", "idx1"], ["b"]),
              helper.make_node("Unsqueeze", ["b", "axis0"], ["b1"]),
              helper.make_node("Concat", ["one", "b1", "hid"], ["state_shape"], axis=0),
              helper.make_node("Expand", ["zero", "state_shape"], ["h0"])]
    zero_state = ["h0", "h0"]
    nodes.append(helper.make_node("LSTM", ["X", "W0", "R0", "B0", ""] + zero_state, ["Y0", "", ""],
                                  name="rnn/stacked_l0", hidden_size=hidden))
    nodes.append(helper.make_node("Squeeze", ["Y0", "axis1"], ["X1"], name="rnn/stacked_squeeze"))
    nodes.append(helper.make_node("LSTM", ["X1", "W1", "R1", "B1", ""] + zero_state, ["", "Y_h"],
                                  name="rnn/stacked_l1", hidden_size=hidden))
    x = rng.standard_normal((seq, batch, inp)).astype(np.float32)
    y0 = reference("LSTM", x, inits["W0"], inits["R0"], inits["B0"])[0][:, 0]
    want = reference("LSTM", y0, inits["W1"], inits["R1"], inits["B1"])[1]
    gr = helper.make_graph(nodes, "stacked", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x.shape)],
                           [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, want.shape)],
                           [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    path = os.path.join(WORK, "lstm_stacked.onnx")
    onnx.save(m, path)
    for config in ("edge", "datacenter"):
        p, out = run(path, {"X": x}, config)
        if p.returncode != 0:
            print(f"FAIL lstm_stacked on {config}: {p.stderr.strip()}")
            failures += 1
            continue
        got = np.load(os.path.join(out, "Y_h.npy")).astype(np.float64)
        err = float((np.abs(got - want) / np.maximum(1.0, np.abs(want))).max()) if got.shape == want.shape else 1e9
        ops = json.load(open(out + ".json"))["operators"]
        stray = [o for o in ops if not o.startswith("rnn_stacked_")]
        ok = err <= TOL and not stray
        print(f"{'ok' if ok else 'FAIL'} lstm_stacked on {config}: Y_h max rel err {err:.2e}, {len(ops)} operators"
              + (f", not named after a node: {stray[:3]}" if stray else ""))
        failures += not ok


check_reference()
stacked()
case("lstm_bidir_computed_states", "LSTM", 5, 2, 6, 8, "bidirectional", initial="computed", peephole=True)
case("lstm_reverse_layout1_const_states", "LSTM", 4, 3, 5, 7, "reverse", layout=1, initial="const")
case("lstm_bidir_layout1_zero_states", "LSTM", 6, 2, 4, 8, "bidirectional", layout=1)
case("lstm_one_step_y_only", "LSTM", 1, 2, 3, 4, outputs=(0,))
case("gru_bidir_lbr0_computed", "GRU", 5, 2, 6, 8, "bidirectional", lbr=0, initial="computed")
case("gru_reverse_lbr1_layout1", "GRU", 4, 2, 5, 6, "reverse", layout=1, lbr=1, initial="const")
case("gru_bidir_lbr1_zero_states", "GRU", 6, 1, 4, 8, "bidirectional", lbr=1)
case("rnn_bidir_relu_layout1", "RNN", 5, 2, 3, 6, "bidirectional", layout=1, initial="computed",
     acts=["Relu", "Tanh"])
case("rnn_full_sequence_lens", "RNN", 4, 2, 3, 5, seq_lens=[4, 4])
bad("lstm_short_sequence_bad", "LSTM", "sequence_lens", 4, 2, 3, 5, seq_lens=[4, 2])
bad("lstm_clip_bad", "LSTM", "clip", 3, 1, 3, 4, clip=5.0)
bad("gru_leakyrelu_bad", "GRU", "LeakyRelu", 3, 1, 3, 4, acts=["LeakyRelu", "Tanh"])
bad("rnn_computed_w_bad", "RNN", "must be a constant", 3, 1, 3, 4, w_input=True)
bad("lstm_fp16_bad", "LSTM", "not float32", 3, 1, 3, 4, fp16=True)
print(f"recurrent: {failures} failure(s)")
sys.exit(1 if failures else 0)
