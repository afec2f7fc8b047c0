#!/usr/bin/env python3
"""Loads an abc_cuda_export file into PyTorch and prints the mean cross-entropy (nats per
character) of the text, read as one stream from a zero state, the next token predicted
from each one: what `abc_cuda_eval loss --batch 1 --seq N` computes with our code.

  export_check.py MODEL.safetensors TEXT_FILE

The safetensors reader is these few lines (the format: an 8-byte little-endian header
size, a JSON header of dtype/shape/offsets plus __metadata__, then the raw tensors), so
only torch is needed. The model is torch_reference.py's: one-hot -> nn.LSTM/nn.RNN ->
nn.Linear, loaded with load_state_dict (strict: every name and shape must match).
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import Model  # noqa: E402  the same model the benchmarks train


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", name
        begin, end = t["data_offsets"]
        raw = bytearray(data[base + begin:base + end])
        tensors[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(t["shape"]).clone()
    return tensors, meta


def tokenize(text, vocab):
    ids = {tok: k for k, tok in enumerate(vocab)}
    out, i = [], 0
    while i < len(text):
        if text.startswith("<start>", i):
            out.append(ids["<start>"])
            i += 7
        elif text.startswith("<end>", i):
            out.append(ids["<end>"])
            i += 5
        else:
            if text[i] in ids:  # characters outside the vocabulary are skipped, as ours does
                out.append(ids[text[i]])
            i += 1
    return out


def main():
    tensors, meta = load_safetensors(sys.argv[1])
    vocab = json.loads(meta["vocab"])
    model = Model(meta["cell"], len(vocab), int(meta["hidden"]), int(meta["layers"]), 0.0)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    with open(sys.argv[2], encoding="latin-1") as f:
        tokens = torch.tensor(tokenize(f.read(), vocab), dtype=torch.long)
    with torch.no_grad():
        logits, _ = model(tokens[:-1].unsqueeze(1), None)  # [T, 1, V]
        loss = nn.functional.cross_entropy(logits.squeeze(1).double(), tokens[1:], reduction="mean")
    print(f"{loss.item():.8f} nats/char over {len(tokens) - 1} predicted tokens")


if __name__ == "__main__":
    main()
