#!/usr/bin/python3
"""Exports the model zoo the compiler is proven on, as a user would: torch.onnx.export of
torchvision models and small hand-built transformers, speech and recommendation models, with
seeded random weights (BatchNorm statistics from a few training-mode passes), never downloads.
For each model it writes NAME.onnx, NAME.in.<input>.npy and NAME.out.npy (torch's output).

usage: export_zoo.py WORK_DIR [NAME ...]     (no names: every model)
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

WORK = sys.argv[1]
ONLY = set(sys.argv[2:])
os.makedirs(WORK, exist_ok=True)


def settle_batchnorm(model, example):
    """Gives BatchNorm layers real running statistics: a few training-mode passes on random data."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(*[torch.randn(4, *x.shape[1:]) if x.is_floating_point() else x.repeat(4, *[1] * (x.dim() - 1))
                    for x in example])


# --- hand-built families -------------------------------------------------------------------------

class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        import torchvision
        self.vit = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                        hidden_dim=64, mlp_dim=128, num_classes=10)
        # torchvision zero-initialises the classification head (its output would be all zeros and
        # no comparison possible): seeded random weights instead, as for every other model here.
        nn.init.normal_(self.vit.heads.head.weight, std=0.05)
        nn.init.normal_(self.vit.heads.head.bias, std=0.05)

    def forward(self, x):
        return self.vit(x)


class BertLike(nn.Module):
    """Token + position embeddings, an attention mask from the input, two encoder layers."""

    def __init__(self, vocab=100, seq=16, d=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        layer = nn.TransformerEncoderLayer(d, 4, 128, dropout=0.0, batch_first=True, activation="gelu")
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 2)

    def forward(self, ids, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        h = self.tok(ids) + self.pos(pos)
        h = self.enc(h, src_key_padding_mask=mask == 0)
        return self.head(self.norm(h[:, 0]))


class GptLike(nn.Module):
    """Decoder-only: causal mask, pre-norm blocks with hand-written attention, tied LM head."""

    def __init__(self, vocab=128, seq=16, d=64, heads=4, layers=2):
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({"ln1": nn.LayerNorm(d), "qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d),
                                              "ln2": nn.LayerNorm(d), "fc": nn.Linear(d, 4 * d),
                                              "out": nn.Linear(4 * d, d)}))
        self.ln = nn.LayerNorm(d)
        self.register_buffer("causal", torch.tril(torch.ones(seq, seq, dtype=torch.bool)))

    def forward(self, ids):
        b, t = ids.shape
        h = self.tok(ids) + self.pos(torch.arange(t).unsqueeze(0))
        d = h.shape[-1]
        for blk in self.blocks:
            x = blk["ln1"](h)
            q, k, v = blk["qkv"](x).split(d, dim=-1)
            q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
            att = att.masked_fill(~self.causal[:t, :t], float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            h = h + blk["proj"](y)
            h = h + blk["out"](nn.functional.gelu(blk["fc"](blk["ln2"](h)), approximate="tanh"))
        return self.ln(h) @ self.tok.weight.t()


class WhisperLike(nn.Module):
    """Log-mel frames -> two Conv1d (GELU, stride 2) -> positional add -> two encoder layers."""

    def __init__(self, mels=16, frames=32, d=64):
        super().__init__()
        self.c1 = nn.Conv1d(mels, d, 3, padding=1)
        self.c2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.pos = nn.Parameter(torch.randn(1, frames // 2, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, 4, 128, dropout=0.0, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(d)

    def forward(self, mel):
        x = nn.functional.gelu(self.c1(mel))
        x = nn.functional.gelu(self.c2(x)).permute(0, 2, 1)
        return self.ln(self.enc(x + self.pos))


class LstmSpeech(nn.Module):
    """Feature frames -> 2-layer LSTM -> per-frame classifier (a keyword spotter)."""

    def __init__(self, feats=20, hidden=32, classes=12):
        super().__init__()
        self.lstm = nn.LSTM(feats, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class GruSpeech(nn.Module):
    """Feature frames -> 2-layer bidirectional GRU -> classifier on the four final states."""

    def __init__(self, feats=20, hidden=32, classes=12):
        super().__init__()
        self.gru = nn.GRU(feats, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(4 * hidden, classes)

    def forward(self, x):
        _, h = self.gru(x)  # [layers x directions, batch, hidden]
        return self.fc(h.transpose(0, 1).reshape(x.shape[0], -1))


class DlrmLike(nn.Module):
    """Dense MLP + three embedding tables, pairwise dot-product interaction, top MLP."""

    def __init__(self, dense=13, tables=(50, 40, 30), d=16):
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(dense, 32), nn.ReLU(), nn.Linear(32, d), nn.ReLU())
        self.emb = nn.ModuleList([nn.Embedding(n, d) for n in tables])
        f = len(tables) + 1
        self.top = nn.Sequential(nn.Linear(d + f * (f - 1) // 2, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
        self.register_buffer("li", torch.tril_indices(f, f, -1)[0])
        self.register_buffer("lj", torch.tril_indices(f, f, -1)[1])

    def forward(self, dense, sparse):
        x = self.bottom(dense)
        t = torch.stack([x] + [e(sparse[:, i]) for i, e in enumerate(self.emb)], dim=1)
        z = torch.bmm(t, t.transpose(1, 2))[:, self.li, self.lj]
        return self.top(torch.cat([x, z], dim=1))


class EmbedMaskAttn(nn.Module):
    """Token embedding, one attention over keys with a padding mask (masked_fill -inf), Gather/Equal/Where."""

    def __init__(self, vocab=40, seq=8, d=16):
        super().__init__()
        self.seq = seq
        self.emb = nn.Embedding(vocab, d)
        self.q = nn.Linear(d, d)

    def forward(self, ids, mask):
        e = self.emb(ids)
        scores = torch.matmul(self.q(e), e.transpose(1, 2))
        scores = scores.masked_fill(mask.view(1, 1, self.seq) == 0, float("-inf")).softmax(-1)
        return torch.matmul(scores, e)


class TinyDetector(nn.Module):
    """A two-scale FPN-style head: strided convs, nearest upsampling (Resize), Concat, heads."""

    def __init__(self):
        super().__init__()
        self.s1 = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.s2 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.lat = nn.Conv2d(32, 16, 1)
        self.head = nn.Conv2d(32, 6, 3, padding=1)

    def forward(self, x):
        a = self.s1(x)
        b = self.s2(a)
        up = nn.functional.interpolate(self.lat(b), scale_factor=2, mode="nearest")
        return self.head(torch.cat([a, up], dim=1))


def torchvision_model(name, **kw):
    import torchvision
    return lambda: getattr(torchvision.models, name)(weights=None, **kw)


def image(n=1, c=3, hw=64):
    return (torch.randn(n, c, hw, hw),)


def ids(vocab, seq):
    return torch.randint(0, vocab, (1, seq), generator=torch.Generator().manual_seed(3))


# name -> (constructor, example inputs (a function), input names, opset)
ZOO = {
    "resnet18": (torchvision_model("resnet18", num_classes=10), lambda: image(), ["x"], 13),
    "mobilenet_v2": (torchvision_model("mobilenet_v2", num_classes=10), lambda: image(), ["x"], 13),
    "mobilenet_v3_small": (torchvision_model("mobilenet_v3_small", num_classes=10), lambda: image(), ["x"], 14),
    "efficientnet_b0": (torchvision_model("efficientnet_b0", num_classes=10), lambda: image(), ["x"], 13),
    "regnet_y_400mf": (torchvision_model("regnet_y_400mf", num_classes=10), lambda: image(), ["x"], 13),
    "shufflenet_v2_x0_5": (torchvision_model("shufflenet_v2_x0_5", num_classes=10), lambda: image(), ["x"], 13),
    "squeezenet1_1": (torchvision_model("squeezenet1_1", num_classes=10), lambda: image(), ["x"], 13),
    "densenet121": (torchvision_model("densenet121", num_classes=10), lambda: image(hw=32), ["x"], 13),
    "convnext_tiny": (torchvision_model("convnext_tiny", num_classes=10), lambda: image(hw=32), ["x"], 17),
    "vit_tiny": (TinyViT, lambda: image(hw=32), ["x"], 14),
    "bert_like": (BertLike, lambda: (ids(100, 16), torch.cat([torch.ones(1, 12, dtype=torch.int64),
                                                              torch.zeros(1, 4, dtype=torch.int64)], 1)),
                  ["ids", "mask"], 14),
    "gpt_like": (GptLike, lambda: (ids(128, 16),), ["ids"], 14),
    "whisper_like": (WhisperLike, lambda: (torch.randn(1, 16, 32),), ["mel"], 17),
    "lstm_speech": (LstmSpeech, lambda: (torch.randn(1, 24, 20),), ["x"], 13),
    "gru_speech": (GruSpeech, lambda: (torch.randn(1, 24, 20),), ["x"], 13),
    "dlrm_like": (DlrmLike, lambda: (torch.randn(1, 13), torch.tensor([[7, 3, 29]])), ["dense", "sparse"], 13),
    "tiny_detector": (TinyDetector, lambda: image(), ["x"], 13),
    "embed_mask_attn": (EmbedMaskAttn, lambda: (ids(40, 8), torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0]])), ["ids", "mask"],
                        14),
}


def export(name):
    make, example_fn, names, opset = ZOO[name]
    torch.manual_seed(0)
    model = make()
    example = example_fn()
    settle_batchnorm(model, example)
    model.eval()
    with torch.no_grad():
        want = model(*example)
    path = os.path.join(WORK, name + ".onnx")
    torch.onnx.export(model, example, path, input_names=names, output_names=["y"], opset_version=opset,
                      do_constant_folding=True)
    for n, x in zip(names, example):
        np.save(os.path.join(WORK, f"{name}.in.{n}.npy"), x.numpy())
    np.save(os.path.join(WORK, name + ".out.npy"), want.numpy())
    print(f"{name}: {path} (opset {opset})")


for name in ZOO:
    if not ONLY or name in ONLY:
        export(name)
