#!/usr/bin/env python3
"""The abc-cuda model in PyTorch, for side-by-side comparisons on the same machine.

Same model: one-hot token -> nn.LSTM / nn.RNN(tanh) -> dropout -> nn.Linear -> softmax
cross-entropy (a one-hot input times W_ih is exactly our input-table row lookup). Same
data and batching: the vocabulary (<start>/<end> as one token each, then characters by
byte value), tunes shuffled each epoch and laid end to end in B streams, chunks of T with
the hidden state carried (detached) between chunks, validation over the whole val text
in order with the state carried. Same optimiser: Adam and clipping by global norm.

  torch_reference.py train --hidden 100 --epochs 20 ...   loss per epoch, then a summary
  torch_reference.py bench --cell lstm --hidden 100 --batch 64 --seq 100
  torch_reference.py bench --device cuda --sample-streams 64 ...   on the GPU (cuDNN on)

bench prints one key=value line as abc_cuda_bench does (tools/bench_cpu.sh and
tools/bench_gpu.sh parse it); --steps 0 leaves out training and evaluation, --sample-chars
0 sampling. Its keys: cell hidden batch seq train_chars_per_s sample_chars_per_s [device
streams] train_cpu_s_per_mchar eval_chars_per_s threads vocab.
"""
import argparse
import ctypes
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tokenize(text, char_ids):
    ids, i = [], 0
    while i < len(text):
        if text.startswith("<start>", i):
            ids.append(0)
            i += 7
        elif text.startswith("<end>", i):
            ids.append(1)
            i += 5
        else:
            if text[i] in char_ids:
                ids.append(char_ids[text[i]])
            i += 1
    return ids


def build_vocab(text):
    chars = sorted(set(text.replace("<start>", "").replace("<end>", "")), key=ord)
    return {c: k + 2 for k, c in enumerate(chars)}


# Our cell names -> torch.nn modules (include/abc/cells/*.hpp: kTorchModule). GRU is
# PyTorch's formulation, which is ours.
TORCH_MODULES = {"lstm": "LSTM", "rnn": "RNN", "gru": "GRU"}


class Model(nn.Module):
    def __init__(self, cell, vocab, hidden, layers, dropout):
        super().__init__()
        rnn = getattr(nn, TORCH_MODULES[cell])
        self.vocab = vocab
        self.rnn = rnn(vocab, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, tokens, state):  # tokens [T, B]
        x = nn.functional.one_hot(tokens, self.vocab).float()
        y, state = self.rnn(x, state)
        return self.out(self.drop(y)), state


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def streams(tokens, batch):
    length = len(tokens) // batch
    return torch.tensor(tokens[: length * batch], dtype=torch.long).view(batch, length).t().contiguous()  # [L, B]


def split_tunes(ids):
    tunes = []
    for t in ids:
        if t == 0 or not tunes:
            tunes.append([])
        tunes[-1].append(t)
    return tunes


def evaluate(model, val_ids, batch, seq, device):
    model.eval()
    batch = max(1, min(batch, len(val_ids) // 2))
    data = streams(val_ids, batch).to(device)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, data.size(0) - 1, seq):
            x = data[start : start + seq]
            y = data[start + 1 : start + 1 + seq]
            x = x[: y.size(0)]
            logits, state = model(x, state)
            total += nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count


def train(args):
    torch.manual_seed(args.seed)
    train_text = open(args.train, encoding="latin-1").read()
    val_text = open(args.val, encoding="latin-1").read()
    char_ids = build_vocab(train_text)
    vocab = len(char_ids) + 2
    tunes = split_tunes(tokenize(train_text, char_ids))
    val_ids = tokenize(val_text, char_ids)
    model = Model(args.cell, vocab, args.hidden, args.layers, args.dropout).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = random.Random(args.seed)
    history, start_all = [], time.time()
    for epoch in range(1, args.epochs + 1):
        order = list(range(len(tunes)))
        rng.shuffle(order)
        data = streams([t for k in order for t in tunes[k]], args.batch).to(args.device)
        state, losses, t0 = None, [], time.time()
        steps = (data.size(0) - 1) // args.seq
        for s in range(steps):
            x = data[s * args.seq : (s + 1) * args.seq]
            y = data[s * args.seq + 1 : (s + 1) * args.seq + 1]
            logits, state = model(x, detach(state))
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            if args.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            losses.append(loss.item())
        seconds = time.time() - t0
        val = evaluate(model, val_ids, args.batch, args.seq, args.device)
        rate = steps * args.batch * args.seq / seconds
        history.append({"epoch": epoch, "train": sum(losses) / len(losses), "val": val, "chars_per_s": rate, "seconds": seconds})
        print(f"torch epoch {epoch}/{args.epochs}: train {history[-1]['train']:.4f}, val {val:.4f} nats/char, "
              f"{rate:.0f} chars/s, {seconds:.1f} s", flush=True)
    best = min(history, key=lambda h: h["val"])
    print(json.dumps({"best_val": best["val"], "best_epoch": best["epoch"], "seconds": time.time() - start_all}))


def set_threads(n):
    """torch.set_num_threads sizes ATen's OpenMP pool only. Debian's PyTorch does its GEMMs in
    OpenBLAS's pthreads build, whose own pool keeps one thread per core: --threads 1 would
    still multiply on two. So OpenBLAS, when torch loaded it, gets the same count."""
    torch.set_num_threads(n)
    for name in ("libopenblas.so.0", "libopenblas.so"):
        try:
            blas = ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)  # only if already loaded
        except OSError:
            continue
        blas.openblas_set_num_threads(n)
        return


def bench(args):
    torch.manual_seed(1)
    cuda = args.device == "cuda"
    # Timings on the GPU must wait for the queued kernels at both ends.
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    text = open(args.train, encoding="latin-1").read()
    char_ids = build_vocab(text)
    vocab = len(char_ids) + 2
    data = streams(tokenize(text, char_ids), args.batch).to(args.device)
    model = Model(args.cell, vocab, args.hidden, 1, 0.1).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps_total = (data.size(0) - 1) // args.seq
    state, pos = None, 0
    med = lambda v: sorted(v)[len(v) // 2]

    def step():
        nonlocal state, pos
        if pos >= steps_total:
            pos, state = 0, None
        x = data[pos * args.seq : (pos + 1) * args.seq]
        y = data[pos * args.seq + 1 : (pos + 1) * args.seq + 1]
        pos += 1
        logits, state = model(x, detach(state))
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    # Forward only over the training chunks from the start, state carried, no dropout, the
    # loss summed and read back per chunk: what our evaluate() does (it waits, too).
    def evaluate_chunks(count):
        state = None
        model.eval()
        with torch.no_grad():
            for k in range(count):
                s = k % steps_total
                x = data[s * args.seq : (s + 1) * args.seq]
                y = data[s * args.seq + 1 : (s + 1) * args.seq + 1]
                logits, state = model(x, state)
                nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1), reduction="sum").item()
        model.train()

    line = f"cell={args.cell} hidden={args.hidden} batch={args.batch} seq={args.seq}"
    chars = args.steps * args.batch * args.seq
    new_keys = ""  # after the keys of the older line, as abc_cuda_bench orders them
    if args.steps > 0:
        for _ in range(args.warmup):
            step()
        train_rates, cpu_per_mchar = [], []
        for _ in range(args.repeats):
            sync()
            c0, t0 = time.process_time(), time.perf_counter()  # process_time: user + sys, all threads
            for _ in range(args.steps):
                step()
            sync()
            train_rates.append(chars / (time.perf_counter() - t0))
            cpu_per_mchar.append((time.process_time() - c0) / (chars * 1e-6))
        line += f" train_chars_per_s={med(train_rates):.0f}"
        evaluate_chunks(1)  # untimed: first calls allocate (and pick cuDNN plans)
        eval_rates = []
        for _ in range(args.repeats):
            sync()
            t0 = time.perf_counter()
            evaluate_chunks(args.steps)
            eval_rates.append(chars / (time.perf_counter() - t0))
        new_keys += f" train_cpu_s_per_mchar={med(cpu_per_mchar):.3f} eval_chars_per_s={med(eval_rates):.0f}"

    # Sampling: n streams, one character each per step; the drawn tokens stay on the
    # device as the next inputs (PyTorch's best case: no copy to the host per step).
    n = args.sample_streams
    if args.sample_chars > 0:
        model.eval()
        sample_rates = []
        with torch.no_grad():
            def sample(count):
                token, state = torch.zeros(1, n, dtype=torch.long, device=args.device), None
                for _ in range(count):
                    logits, state = model(token, state)
                    probs = torch.softmax(logits[0] / 0.8, dim=-1)
                    token = torch.multinomial(probs, 1).view(1, n)
            if cuda:
                sample(args.warmup)  # first calls pick cuDNN plans and allocate
            for _ in range(args.repeats):
                sync()
                t0 = time.perf_counter()
                sample(args.sample_chars)
                sync()
                sample_rates.append(n * args.sample_chars / (time.perf_counter() - t0))
        line += f" sample_chars_per_s={med(sample_rates):.0f}"
    if cuda or n != 1:
        line += f" device={args.device} streams={n}"
    print(line + new_keys + f" threads={torch.get_num_threads()} vocab={vocab}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "bench"])
    p.add_argument("--cell", default="lstm", choices=sorted(TORCH_MODULES))
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=100)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (ATen's and OpenBLAS's pools)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sample-chars", type=int, default=2000, help="sampling steps per repeat (0: no sampling)")
    p.add_argument("--sample-streams", type=int, default=1, help="parallel sampling streams (bench)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--train", default=os.path.join(ROOT, "data/corpus/train.txt"))
    p.add_argument("--val", default=os.path.join(ROOT, "data/corpus/val.txt"))
    args = p.parse_args()
    if args.sample_streams < 1:
        p.error("--sample-streams must be at least 1")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            p.error("--device cuda: PyTorch sees no usable GPU (torch.cuda.is_available() is False); "
                    "use --device cpu, or a CUDA build of PyTorch on a GPU machine")
        torch.backends.cudnn.enabled = True  # nn.LSTM / nn.RNN run as cuDNN's RNN
    set_threads(args.threads)
    (train if args.mode == "train" else bench)(args)


if __name__ == "__main__":
    sys.exit(main())
