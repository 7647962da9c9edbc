#!/usr/bin/python3
"""npusim from Python, as a notebook would drive it.

    PYTHONPATH=build/python /usr/bin/python3 python/example.py

1. Compile the bundled CNN for the edge NPU and run it on a NumPy image: logits back as an array,
   stats as a dict.
2. A small design-space study in a loop: ResNet-50's convolutions on square arrays in three
   dataflows (layer level), latency and energy per design.
"""
import os

import numpy as np

import npusim

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
edge = npusim.Config(os.path.join(ROOT, "configs", "edge.yaml"))
print(edge, "-", edge.to_dict()["scratchpad_bytes"] // 1024, "KiB scratchpad")

model = npusim.compile(os.path.join(ROOT, "traces", "models", "cnn.onnx"), edge)
image = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
r = npusim.run(edge, model, {"image": image})
logits = r["outputs"]["logits"]
print(f"cnn.onnx: {r['cycles']} cycles ({r['seconds'] * 1e6:.1f} us), class {int(logits.argmax())}, "
      f"MXU utilization {r['stats']['mxu_utilization']:.1%}")
for name, op in list(r["stats"]["operators"].items())[:3]:
    print(f"  {name}: {op['cycles']} cycles")

print("\nResNet-50 convolutions, layer by layer (ideal memory):")
print(f"{'array':>7} {'flow':>4} {'cycles':>12} {'ms':>8} {'mJ':>8} {'util':>6}")
topology = os.path.join(ROOT, "traces", "topologies", "resnet50_conv.csv")
for n in (8, 16, 32, 64):
    for flow in ("ws", "os", "is"):
        cfg = edge.with_overrides({"mxu.rows": n, "mxu.cols": n, "mxu.dataflow": flow})
        t = npusim.run_topology(cfg, topology, ideal_memory=True)["total"]
        print(f"{n:>3}x{n:<3} {flow:>4} {t['cycles']:>12} {t['seconds'] * 1e3:>8.3f} {t['energy_j'] * 1e3:>8.3f} "
              f"{t['utilization']:>6.1%}")
