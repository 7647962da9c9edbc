#!/usr/bin/python3
"""ONNX backend node conformance: every case of every supported operator, compiled and run.

Generates the ONNX 1.12 backend node test cases with Debian's python3-onnx (once, into WORK),
selects the cases whose graph uses only operators the compiler supports, and runs each through
`npusim run model.onnx` on the bundled configs in fp16, comparing with the expected outputs.

Static shapes and weights: the NPU compiler needs constant shape operands and convolution weights,
so inputs that are not float32 (e.g. Reshape's int64 shape), scalar inputs (Clip's bounds), Conv
weights and biases, BatchNormalization's parameters and Resize's roi/scales/sizes are folded into initializers before compiling, with the values of the test's own
input data. That is what a deployment does; the operator semantics under test are unchanged.

Quantized operators (QuantizeLinear, DequantizeLinear, QLinearMatMul, QLinearConv, MatMulInteger,
ConvInteger): their data input stays an input; weights, scales and zero points are folded in the
same way. Integer outputs must match exactly (bit-exact); float outputs use the tolerance below.

Tolerance: the cases are float32 and the NPU computes in fp16 (11 significant bits; products and
sums in fp32, see docs/isa.md). Rounding each input and the output to fp16 costs up to 1/2 ulp each
(ulp = 2^-10 relative in [1, 2)), and a short dot product adds a few more, so an element passes when
|got - expected| <= 8 x 2^-10 x max(1, |expected|). The ONNX suite's own float32 tolerance
(rtol 1e-3) is tighter than fp16 can represent.

A case that cannot pass today is listed in SKIP with its reason; any other failure fails the test.
Prints passed/total per operator.

usage: conformance.py NPUSIM REPO_DIR WORK_DIR
"""
import glob
import json
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np

for _name, _type in (("float", float), ("int", int), ("bool", bool), ("object", object), ("complex", complex)):
    if not hasattr(np, _name):  # ONNX 1.12's generators use aliases NumPy 1.24 removed
        setattr(np, _name, _type)

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
# Operators with a host reference kernel (fallback) are run the same way; the report marks them.
HOST = {"Softplus"}
# The operators the compiler lowers to the NPU, from the compiler itself (`npusim info --operators`),
# so a newly registered operator's cases join the test without editing this file.
SUPPORTED = {line.split("|")[1].strip() for line in subprocess.run([NPUSIM, "info", "--operators"], check=True,
             capture_output=True, text=True).stdout.splitlines()[2:] if line.startswith("|")}
HOST -= SUPPORTED
# Quantized operators: the inputs that are data (everything else is a weight or a quantization
# parameter, compiled in as deployments do).
QUANT_DATA = {"QuantizeLinear": {0}, "DequantizeLinear": {0}, "QLinearMatMul": {0}, "QLinearConv": {0},
              "MatMulInteger": {0}, "ConvInteger": {0}}
# Masks, selection and gathers: every input is data (int64 and bool inputs cross the host boundary,
# narrowed to int32 / stored as uint8 on the device), so the cases exercise computed indices and masks.
MASK_DATA = {op: {0, 1, 2} for op in ("Gather", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not",
                                      "And", "Or", "Xor", "Where", "Cast")}
CONFIGS = ["edge.yaml", "datacenter.yaml"]
TOL = 8 * 2.0**-10

# Cases that cannot pass yet, with the reason (each is a known gap of the compiler).
SKIP = {
    "test_reduce_log_sum_exp_default_axes_keepdims_example": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_default_axes_keepdims_random": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_do_not_keepdims_example": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_do_not_keepdims_random": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_keepdims_example": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_keepdims_random": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_negative_axes_keepdims_example": "a float64 model; the NPU holds float32/float16 tensors",
    "test_reduce_log_sum_exp_negative_axes_keepdims_random": "a float64 model; the NPU holds float32/float16 tensors",
    "test_gemm_default_single_elem_vector_bias": "a computed 1-element C would need a broadcast along the row, which no instruction does",
    "test_reshape_allowzero_reordered": "zero-sized dimensions are not supported",
    "test_slice_start_out_of_bounds": "zero-sized dimensions are not supported (the empty output's shape stays dynamic)",
    "test_split_zero_size_splits": "zero-sized dimensions are not supported",
    "test_unsqueeze_negative_axes": "graph outputs of rank > 4 are not supported (the program's I/O table holds 4 dimensions)",
    "test_unsqueeze_three_axes": "graph outputs of rank > 4 are not supported (the program's I/O table holds 4 dimensions)",
    "test_unsqueeze_two_axes": "graph outputs of rank > 4 are not supported (the program's I/O table holds 4 dimensions)",
    "test_unsqueeze_unsorted_axes": "graph outputs of rank > 4 are not supported (the program's I/O table holds 4 dimensions)",
    "test_globalaveragepool": "an opset 1 model; the compiler reads opsets 10 to 17",
    "test_globalaveragepool_precomputed": "an opset 1 model; the compiler reads opsets 10 to 17",
    "test_globalmaxpool": "an opset 1 model; the compiler reads opsets 10 to 17",
    "test_globalmaxpool_precomputed": "an opset 1 model; the compiler reads opsets 10 to 17",
    "test_averagepool_3d_default": "rank-5 graph input and output: the ISA's IO tensors have at most 4 dimensions (3-D pooling inside a graph is lowered)",
    "test_maxpool_3d_default": "rank-5 graph input and output: the ISA's IO tensors have at most 4 dimensions (3-D pooling inside a graph is lowered)",
    "test_convtranspose_3d": "rank-5 graph input and output: the ISA's IO tensors have at most 4 dimensions",
    "test_batchnorm_epsilon_training_mode": "training-mode BatchNormalization (running statistics) is not supported",
    "test_batchnorm_example_training_mode": "training-mode BatchNormalization (running statistics) is not supported",
    "test_softmax_large_number": "inputs near 1e4 differ by less than fp16's resolution there (8)",
    "test_logsoftmax_large_number": "inputs near 1e4 differ by less than fp16's resolution there (8)",
    "test_elu": "an opset 6 model; the compiler reads opsets 10 to 17",
    "test_elu_default": "an opset 6 model; the compiler reads opsets 10 to 17",
    "test_elu_example": "an opset 6 model; the compiler reads opsets 10 to 17",
    "test_softplus": "an opset 1 model; the compiler reads opsets 10 to 17",
    "test_softplus_example": "an opset 1 model; the compiler reads opsets 10 to 17",
    "test_maxpool_with_argmax_2d_precomputed_pads": "the Indices output of MaxPool is not supported",
    "test_maxpool_with_argmax_2d_precomputed_strides": "the Indices output of MaxPool is not supported",
    "test_add_uint8": "ONNX integer Add/Sub/Mul wrap around; the VPU saturates integer results (quantized graphs use QLinear operators)",
    "test_sub_uint8": "ONNX integer Add/Sub/Mul wrap around; the VPU saturates integer results (quantized graphs use QLinear operators)",
    "test_mul_uint8": "ONNX integer Add/Sub/Mul wrap around; the VPU saturates integer results (quantized graphs use QLinear operators)",
    "test_div_uint8": "ONNX integer Div truncates; Div is float-only on the NPU (quantized graphs use QLinear operators)",
    "test_pow_types_float32_uint32": "uint32 constants are not supported by the importer (the exponent)",
    "test_pow_types_float32_uint64": "uint64 constants are not supported by the importer (the exponent)",
    "test_pow_types_int32_float32": "an int32 base and output: Pow is float-only on the NPU",
    "test_pow_types_int32_int32": "an int32 base and output: Pow is float-only on the NPU",
    "test_pow_types_int64_float32": "int64 tensors are not held on the NPU (int8, uint8, int32, float only)",
    "test_pow_types_int64_int64": "int64 tensors are not held on the NPU (int8, uint8, int32, float only)",
    "test_hardsigmoid": "an opset 6 model; the compiler reads opsets 10 to 17",
    "test_hardsigmoid_default": "an opset 6 model; the compiler reads opsets 10 to 17",
    "test_hardsigmoid_example": "an opset 6 model; the compiler reads opsets 10 to 17",
    "test_max_float64": "float64 tensors are not held on the NPU",
    "test_max_int16": "int16 constants are not supported by the importer",
    "test_max_uint16": "uint16 constants are not supported by the importer",
    "test_max_uint32": "uint32 constants are not supported by the importer",
    "test_max_uint64": "uint64 constants are not supported by the importer",
    "test_max_int32": "int32 tensors are not VPU operands (Max/Min take float, int8 and uint8)",
    "test_max_int64": "int64 tensors are not held on the NPU (int8, uint8, int32, float only)",
    "test_min_float64": "float64 tensors are not held on the NPU",
    "test_min_int16": "int16 constants are not supported by the importer",
    "test_min_uint16": "uint16 constants are not supported by the importer",
    "test_min_uint32": "uint32 constants are not supported by the importer",
    "test_min_uint64": "uint64 constants are not supported by the importer",
    "test_min_int32": "int32 tensors are not VPU operands (Max/Min take float, int8 and uint8)",
    "test_min_int64": "int64 tensors are not held on the NPU (int8, uint8, int32, float only)",
    "test_resize_tf_crop_and_resize": "tf_crop_and_resize (roi crop with extrapolation) is not lowered",
    "test_identity_opt": "optional-type values are not supported",
    "test_identity_sequence": "sequence-type values are not supported",
    "test_cast_BFLOAT16_to_FLOAT": "bfloat16 graph inputs are not supported (ONNX stores them as uint16 bit patterns)",
    "test_cast_FLOAT_to_BFLOAT16": "bfloat16 graph outputs are not supported (ONNX stores them as uint16 bit patterns)",
    "test_cast_DOUBLE_to_FLOAT": "float64 tensors are not supported",
    "test_cast_DOUBLE_to_FLOAT16": "float64 tensors are not supported",
    "test_cast_FLOAT16_to_DOUBLE": "float64 tensors are not supported",
    "test_cast_FLOAT_to_DOUBLE": "float64 tensors are not supported",
    "test_cast_FLOAT_to_STRING": "string tensors are not supported",
    "test_cast_STRING_to_FLOAT": "string tensors are not supported",
    "test_castlike_BFLOAT16_to_FLOAT_expanded": "bfloat16 graph inputs are not supported (ONNX stores them as uint16 bit patterns)",
    "test_castlike_FLOAT_to_BFLOAT16_expanded": "bfloat16 graph outputs are not supported (ONNX stores them as uint16 bit patterns)",
    "test_castlike_DOUBLE_to_FLOAT16_expanded": "float64 tensors are not supported",
    "test_castlike_DOUBLE_to_FLOAT_expanded": "float64 tensors are not supported",
    "test_castlike_FLOAT16_to_DOUBLE_expanded": "float64 tensors are not supported",
    "test_castlike_FLOAT_to_DOUBLE_expanded": "float64 tensors are not supported",
    "test_castlike_FLOAT_to_STRING_expanded": "string tensors are not supported",
    "test_castlike_STRING_to_FLOAT_expanded": "string tensors are not supported",
    "test_not_2d": "an opset 1 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_not_3d": "an opset 1 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_not_4d": "an opset 1 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and3d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and4d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and_bcast3v1d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and_bcast3v2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and_bcast4v2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and_bcast4v3d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_and_bcast4v4d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or3d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or4d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or_bcast3v1d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or_bcast3v2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or_bcast4v2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or_bcast4v3d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_or_bcast4v4d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor3d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor4d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor_bcast3v1d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor_bcast3v2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor_bcast4v2d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor_bcast4v3d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
    "test_xor_bcast4v4d": "an opset 7 model; the compiler reads opsets 10 to 17 (passes re-stamped as opset 13)",
}


def generate(dest):
    if os.path.isdir(os.path.join(dest, "node")):
        return
    from onnx.backend.test.cmd_tools import main
    sys.argv = ["cmd_tools", "generate-data", "-o", dest]
    main()


def fold_static_inputs(model, inputs):
    """Turns non-float32 and scalar graph inputs, Conv and ConvTranspose weights and biases, BatchNormalization's
    parameters, Resize's roi, scales and sizes and recurrent weights into initializers with the test's values."""
    weights = {i for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose", "BatchNormalization", "Resize")
               for i in n.input[1:]}
    # LSTM/GRU/RNN: W, R, B and the peepholes P are weights (split into gate blocks at compile
    # time); X and the initial states stay inputs.
    weights |= {i for n in model.graph.node if n.op_type in ("LSTM", "GRU", "RNN")
                for k, i in enumerate(n.input) if k in (1, 2, 3, 7)}
    data = set()
    for n in model.graph.node:
        for table in (QUANT_DATA, MASK_DATA):
            if n.op_type in table:
                for k, i in enumerate(n.input):
                    (data if k in table[n.op_type] else weights).add(i)
    keep = []
    for vi, arr in zip(list(model.graph.input), inputs):
        if vi.name in data:
            keep.append((vi.name, arr))
        elif arr.dtype != np.float32 or arr.ndim == 0 or vi.name in weights:
            model.graph.initializer.append(numpy_helper.from_array(arr, vi.name))
        else:
            keep.append((vi.name, arr))
    names = {n for n, _ in keep}
    inputs_vi = [vi for vi in model.graph.input if vi.name in names]
    del model.graph.input[:]
    model.graph.input.extend(inputs_vi)
    return keep


def run_case(case_dir, config, work):
    name = os.path.basename(case_dir)
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    data = os.path.join(case_dir, "test_data_set_0")
    ins = [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(os.path.join(data, "input_*.pb")))]
    outs = [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(os.path.join(data, "output_*.pb")))]
    keep = fold_static_inputs(model, ins)
    path = os.path.join(work, name + ".onnx")
    onnx.save(model, path)
    outdir = os.path.join(work, name + "." + config)
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--precision", "fp16", "--output-dir", outdir, "--quiet",
           "--stats", outdir + ".stats.json"]
    for n, arr in keep:
        p = os.path.join(work, f"{name}.{n.replace('/', '_')}.npy")
        np.save(p, arr)
        cmd += ["--input", f"{n}={p}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return False, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0]
    for vi, want in zip(model.graph.output, outs):
        io = "".join(c if c.isalnum() or c in "_." else "_" for c in vi.name)
        got = np.load(os.path.join(outdir, io + ".npy"))
        if got.shape != want.shape:
            return False, f"output {vi.name}: shape {got.shape} != {want.shape}"
        if want.dtype.kind in "iub":  # integer and bool outputs: bit-exact
            if got.dtype != want.dtype:
                return False, f"output {vi.name}: dtype {got.dtype} != {want.dtype}"
            if not np.array_equal(got, want):
                bad = int(np.count_nonzero(got != want))
                return False, f"output {vi.name}: {bad} of {want.size} integers differ"
            continue
        err = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.maximum(1.0, np.abs(want))
        if err.max() > TOL:
            return False, f"output {vi.name}: max rel err {err.max():.3g} > {TOL:.3g}"
    host = json.load(open(outdir + ".stats.json"))["fallback"]["host_operators"]
    return True, "host" if host else ""


def integer_case(model):
    """Cases whose tensors are not float32: integer models are not compiled yet."""
    types = [vi.type.tensor_type.elem_type for vi in list(model.graph.input) + list(model.graph.output)]
    return any(t != onnx.TensorProto.FLOAT for t in types)


def main():
    data = os.path.join(WORK, "onnxdata")
    generate(data)
    cases = os.path.join(WORK, "cases")
    os.makedirs(cases, exist_ok=True)
    per_op = defaultdict(lambda: [0, 0])
    on_host = defaultdict(int)  # passed cases in which an operator ran on the host
    unexpected = []
    for case_dir in sorted(glob.glob(os.path.join(data, "node", "test_*"))):
        name = os.path.basename(case_dir)
        ops = {n.op_type for n in onnx.load(os.path.join(case_dir, "model.onnx")).graph.node}
        if not ops or not ops <= SUPPORTED | HOST:
            continue
        op = sorted(ops)[0] if len(ops) == 1 else "+".join(sorted(ops))
        if ops & HOST:
            op += " (host)"
        reason = SKIP.get(name)
        if reason is None and ops & HOST and integer_case(onnx.load(os.path.join(case_dir, "model.onnx"))):
            reason = "non-float32 tensors: integer and float64 models are not compiled yet"
        if reason:
            print(f"SKIP {name}: {reason}")
            per_op[op][1] += 1
            continue
        ok_all, why = True, ""
        for config in CONFIGS:
            ok, why = run_case(case_dir, config, cases)
            if not ok:
                ok_all = False
                why = f"{config}: {why}"
                break
        per_op[op][1] += 1
        if ok_all:
            per_op[op][0] += 1
            on_host[op] += why == "host"
            print(f"pass {name}" + (" (host fallback)" if why == "host" else ""))
        else:
            print(f"FAIL {name}: {why}")
            unexpected.append(name)
    print("\nper operator (passed / total, skips count as not passed; of the passed, how many fell back to the host):")
    for op in sorted(per_op):
        print(f"  {op:18s} {per_op[op][0]:3d} / {per_op[op][1]}" + (f"   ({on_host[op]} on the host)" if on_host[op] else ""))
    total = [sum(v[0] for v in per_op.values()), sum(v[1] for v in per_op.values())]
    print(f"  {'all':18s} {total[0]:3d} / {total[1]}")
    if unexpected:
        print("unexpected failures:", ", ".join(unexpected))
        return 1
    return 0


sys.exit(main())
