#!/usr/bin/env python3
"""Builds a tiny GPT-like decoder with a KV cache and exports it to ONNX (seeded random weights).

Usage: make_tiny_gpt.py OUT.onnx [--layers 2] [--d 64] [--heads 4] [--vocab 128] [--max-context 256] [--seed 0]

Inputs (the Hugging Face layout, static per phase with `--dim`):
  input_ids       int64 [batch, seq]
  position_ids    int64 [batch, seq]
  attention_mask  float [batch, 1, seq, past + seq]: 1 where query i may attend key j, else 0
  past_key_values.N.key / .value   float [batch, heads, past, head_dim]
Outputs: logits [batch, seq, vocab], present.N.key / .value [batch, heads, past + seq, head_dim]
(present = Concat(past, new), so the last `seq` rows of present are this step's keys and values).
Dynamic dims: batch, seq, past. `npusim generate` compiles it with --dim seq=S --dim past=B.
With --reference TOKENS.npy N OUT.npy, also writes torch's greedy continuation (N new tokens) and,
to stderr, the smallest top-1/top-2 logit margin seen (fp16 cannot flip an argmax above ~0.05).
"""
import argparse
import math
import sys

import numpy as np
import torch
import torch.nn as nn


class TinyGpt(nn.Module):
    """Pre-norm decoder blocks, learned positions, an LM head; attention over Concat(past, new)."""

    def __init__(self, vocab, d, heads, layers, max_context):
        super().__init__()
        self.heads, self.d = heads, d
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_context, d)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({"ln1": nn.LayerNorm(d), "qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d),
                                              "ln2": nn.LayerNorm(d), "fc": nn.Linear(d, 4 * d),
                                              "out": nn.Linear(4 * d, d)}))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)  # untied: a tied head repeats the last token
        nn.init.normal_(self.head.weight, std=1.0)  # logits of std ~sqrt(d): wide top-1 margins for fp16

    def forward(self, input_ids, position_ids, attention_mask, past):
        b, t = input_ids.shape
        h = self.tok(input_ids) + self.pos(position_ids)
        hd = self.d // self.heads
        presents = []
        # additive mask: 0 where allowed, -1e4 (exp underflows to 0, fits fp16) where not
        bias = (attention_mask - 1.0) * 1e4
        for i, blk in enumerate(self.blocks):
            x = blk["ln1"](h)
            q, k, v = blk["qkv"](x).split(self.d, dim=-1)
            q = q.view(b, t, self.heads, hd).transpose(1, 2)
            k = torch.cat([past[2 * i], k.view(b, t, self.heads, hd).transpose(1, 2)], dim=2)
            v = torch.cat([past[2 * i + 1], v.view(b, t, self.heads, hd).transpose(1, 2)], dim=2)
            presents += [k, v]
            att = ((q @ k.transpose(-2, -1)) / math.sqrt(hd) + bias).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, self.d)
            h = h + blk["proj"](y)
            h = h + blk["out"](nn.functional.gelu(blk["fc"](blk["ln2"](h)), approximate="tanh"))
        logits = self.head(self.ln(h))
        return (logits, *presents)


class Wrapper(nn.Module):
    """Flat inputs for torch.onnx.export."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, position_ids, attention_mask, *past):
        return self.m(input_ids, position_ids, attention_mask, list(past))


def greedy(model, prompt, n, layers, heads, hd):
    """Greedy decode with the cache, as npusim generate does it (full-precision torch)."""
    past = [torch.zeros(1, heads, 0, hd) for _ in range(2 * layers)]
    toks = list(prompt)
    ids = torch.tensor([toks])
    out, margin = [], float("inf")
    for step in range(n):
        t = ids.shape[1]
        pos = torch.arange(len(toks) - t, len(toks)).unsqueeze(0)
        total = past[0].shape[2] + t
        mask = torch.ones(1, 1, t, total)
        mask[0, 0] = torch.tril(torch.ones(t, total), diagonal=total - t)
        with torch.no_grad():
            res = model(ids, pos, mask, past)
        last = res[0][0, -1]
        top2 = torch.topk(last, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        nxt = int(last.argmax())
        out.append(nxt)
        toks.append(nxt)
        past = list(res[1:])
        ids = torch.tensor([[nxt]])
    return out, margin


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=128)
    p.add_argument("--max-context", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference", nargs=3, metavar=("TOKENS.npy", "N", "OUT.npy"))
    a = p.parse_args()
    torch.manual_seed(a.seed)
    m = TinyGpt(a.vocab, a.d, a.heads, a.layers, a.max_context).eval()
    hd = a.d // a.heads
    names = ["input_ids", "position_ids", "attention_mask"]
    outs = ["logits"]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "position_ids": {0: "batch", 1: "seq"},
           "attention_mask": {0: "batch", 2: "seq", 3: "total"}, "logits": {0: "batch", 1: "seq"}}
    for i in range(a.layers):
        for kv in ("key", "value"):
            names.append(f"past_key_values.{i}.{kv}")
            outs.append(f"present.{i}.{kv}")
            dyn[names[-1]] = {0: "batch", 2: "past"}
            dyn[outs[-1]] = {0: "batch", 2: "total"}
    past, seq = 4, 3
    ex = (torch.zeros(1, seq, dtype=torch.long), torch.arange(past, past + seq).unsqueeze(0),
          torch.ones(1, 1, seq, past + seq), *[torch.zeros(1, a.heads, past, hd) for _ in range(2 * a.layers)])
    torch.onnx.export(Wrapper(m), ex, a.out, input_names=names, output_names=outs, dynamic_axes=dyn,
                      opset_version=14, do_constant_folding=True)
    if a.reference:
        prompt = np.load(a.reference[0]).reshape(-1).tolist()
        toks, margin = greedy(m, prompt, int(a.reference[1]), a.layers, a.heads, hd)
        np.save(a.reference[2], np.array(toks, dtype=np.int64))
        print(f"smallest top-1 margin {margin:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
