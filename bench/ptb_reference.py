#!/usr/bin/python3
"""A plain PyTorch ENAS Penn Treebank language model: the speed baseline for `enas bench`.

The recurrent cell of google-research enas_lm (child.py for search, fixed_lib.py for the final
model), written the way a researcher would in eager PyTorch: nn.Parameter tensors, a Python loop
over time steps and nodes, autograd, torch.optim.SGD and clip_grad_norm_. Float32 on the CPU.

  node 0:      [x_t * m_x, s * m_l] @ w_prev = (c, g);  s_0 = s + sig(g) * (tanh(c) - s)
  node k >= 1: (q * m_l) @ w_k = (c, g), q = layers[prev_k];  s_k = q + sig(g) * (f_k(c) - q)
  s_t = mean(s_1 .. s_N);  logits = (all_s * m_o) @ w_emb^T  (tied, undropped w_emb)

Training-mode regularisation as enas_lm: embedding-row dropout (drop_e), one embedding mask per
sequence (drop_i), variational masks drawn once per batch on the cell input (drop_x) and on the
state / every node input (drop_l, one mask shared by all), output dropout (drop_o), and
loss = CE + alpha * mean(all_s^2) + beta * mean((s_t - s_{t-1})^2) + weight_decay * sum(w^2)
over the cell weights this step used. The state is carried across batches, detached.

  --mode shared   search-time child: 9 nodes, weights per (node, func, prev), a uniformly random
                  architecture each step (what a controller sample costs, minus the controller)
  --mode final    the fixed ENAS cell, hidden 800, one weight matrix per node

Tokens are random (content does not change the cost); every batch is 35 steps long, so the
learning rate is enas_lm's 20 * 35 / 35. Prints one JSON line; ms_per_step is the median.
  /usr/bin/python3 bench/ptb_reference.py --mode final --threads 2 --steps 5
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ENAS_ARC = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"  # google-research enas_lm/README.md
VOCAB = 10000
BPTT = 35
NUM_FUNCS = 4  # tanh, relu, sigmoid, identity, numbered as enas_lm

# child.py's defaults (search) and fixed_lib.py's flags (final), dropouts as drop rates.
CONFIGS = {
    "shared": dict(hidden=200, batch=128, nodes=9, init_range=0.04, grad_bound=0.1, alpha=0.0,
                   beta=1.0, drop_e=0.1, drop_i=0.2, drop_x=0.75, drop_l=0.25, drop_o=0.75),
    "final": dict(hidden=800, batch=64, nodes=8, init_range=0.05, grad_bound=0.25, alpha=0.7,
                  beta=0.0, drop_e=0.125, drop_i=0.175, drop_x=0.725, drop_l=0.225,
                  drop_o=0.75),
}
WEIGHT_DECAY = 8e-7
LEARNING_RATE = 20.0


def apply_func(index, c):
    if index == 0:
        return torch.tanh(c)
    if index == 1:
        return torch.relu(c)
    if index == 2:
        return torch.sigmoid(c)
    return c


def dropout_mask(like, shape, drop):
    """Inverted-dropout mask of `shape`, broadcast by the caller so one draw covers a whole row,
    sequence or batch (the variational dropout enas_lm uses everywhere)."""
    keep = 1.0 - drop
    return like.new_empty(shape).bernoulli_(keep) / keep


class PtbLM(nn.Module):
    def __init__(self, hidden, nodes, shared, init_range):
        super().__init__()
        self.hidden, self.nodes, self.shared = hidden, nodes, shared
        h = hidden
        self.w_emb = nn.Parameter(torch.empty(VOCAB, h))  # also the softmax weight (tied)
        self.w_prev = nn.Parameter(torch.empty(2 * h, 2 * h))
        if shared:
            # Node k may read any of k + 1 earlier states through any function: one matrix per
            # (func, prev), as child.py's layer_{k+1}/w.
            shapes = [(NUM_FUNCS, k + 1, h, 2 * h) for k in range(nodes)]
        else:
            shapes = [(h, 2 * h)] * nodes
        self.w_nodes = nn.ParameterList([nn.Parameter(torch.empty(s)) for s in shapes])
        for p in self.parameters():
            nn.init.uniform_(p, -init_range, init_range)

    def node_weights(self, arc):
        if self.shared:
            return [self.w_nodes[k][f, p] for k, (p, f) in enumerate(arc)]
        return list(self.w_nodes)

    def forward(self, x, s, arc, cfg):
        """x (B, T) tokens, s (B, H) state; returns all_s (B, T, H), dropped outputs, w used."""
        b, h = x.shape[0], self.hidden
        w_emb = self.w_emb * dropout_mask(self.w_emb, (VOCAB, 1), cfg["drop_e"])
        emb = F.embedding(x, w_emb)  # (B, T, H)
        emb = emb * dropout_mask(emb, (b, 1, h), cfg["drop_i"])
        m_x = dropout_mask(emb, (b, h), cfg["drop_x"])
        m_l = dropout_mask(emb, (b, h), cfg["drop_l"])
        w_nodes = self.node_weights(arc)

        outs = []
        for t in range(x.shape[1]):
            c, g = (torch.cat([emb[:, t] * m_x, s * m_l], dim=1) @ self.w_prev).chunk(2, dim=1)
            layers = [s + torch.sigmoid(g) * (torch.tanh(c) - s)]
            for k, (prev, func) in enumerate(arc):
                q = layers[prev]
                c, g = ((q * m_l) @ w_nodes[k]).chunk(2, dim=1)
                layers.append(q + torch.sigmoid(g) * (apply_func(func, c) - q))
            s = torch.stack(layers[1:]).mean(dim=0)
            outs.append(s)
        all_s = torch.stack(outs, dim=1)  # (B, T, H)
        top_s = all_s * dropout_mask(all_s, (b, 1, h), cfg["drop_o"])
        return all_s, top_s, [self.w_prev] + w_nodes


def random_arc(nodes, gen):
    arc = []
    for k in range(nodes):
        prev = int(torch.randint(0, k + 1, (), generator=gen))
        func = int(torch.randint(0, NUM_FUNCS, (), generator=gen))
        arc.append((prev, func))
    return arc


def parse_arc(text):
    flat = [int(v) for v in text.split()]
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def train_step(model, opt, x, y, s, arc, cfg):
    opt.zero_grad(set_to_none=True)
    all_s, top_s, used = model(x, s, arc, cfg)
    logits = top_s @ model.w_emb.t()  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    reg = loss + WEIGHT_DECAY * sum((w * w).sum() for w in used)
    if cfg["alpha"]:
        reg = reg + cfg["alpha"] * all_s.pow(2).mean()
    if cfg["beta"]:
        reg = reg + cfg["beta"] * (all_s[:, 1:] - all_s[:, :-1]).pow(2).mean()
    reg.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_bound"])
    opt.step()
    return loss.item(), all_s[:, -1].detach()


def read_ids(path, vocab):
    """Mikolov's text as ids: whitespace-separated words, <eos> after every line."""
    with open(path) as f:
        return torch.tensor([vocab[w] for line in f for w in line.split() + ["<eos>"]])


def train_one_epoch(args, cfg):
    """--data: one epoch on real Penn Treebank, then validation perplexity. A cross-check of the
    C++ trainer's learning (not its speed); windows are exactly BPTT long here, where enas_lm
    (and enas) draw random lengths."""
    with open(f"{args.data}/ptb.train.txt") as f:
        vocab = {w: i for i, w in enumerate(sorted({w for line in f for w in line.split()} |
                                                   {"<eos>"}))}
    assert len(vocab) == VOCAB, len(vocab)
    b = cfg["batch"]

    def rows(ids):
        n = ids.numel() // b
        return ids[:n * b].view(b, n)

    train = rows(read_ids(f"{args.data}/ptb.train.txt", vocab))
    valid = rows(read_ids(f"{args.data}/ptb.valid.txt", vocab))
    model = PtbLM(cfg["hidden"], cfg["nodes"], False, cfg["init_range"])
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    arc = parse_arc(ENAS_ARC)
    s = torch.zeros(b, cfg["hidden"])
    t0 = time.perf_counter()
    for i in range((train.size(1) - 1) // BPTT):
        x, y = train[:, i * BPTT:(i + 1) * BPTT], train[:, i * BPTT + 1:(i + 1) * BPTT + 1]
        loss, s = train_step(model, opt, x, y, s, arc, cfg)
    no_drop = dict(cfg, drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0)
    s, total, n = torch.zeros(b, cfg["hidden"]), 0.0, 0
    with torch.no_grad():
        for i in range((valid.size(1) - 1) // BPTT):
            x, y = valid[:, i * BPTT:(i + 1) * BPTT], valid[:, i * BPTT + 1:(i + 1) * BPTT + 1]
            all_s, top_s, _ = model(x, s, arc, no_drop)
            total += F.cross_entropy((top_s @ model.w_emb.t()).reshape(-1, VOCAB),
                                     y.reshape(-1)).item()
            n, s = n + 1, all_s[:, -1]
    print(json.dumps({"impl": "pytorch_reference", "mode": "final_epoch", "hidden": cfg["hidden"],
                      "valid_ppl": round(math.exp(total / n), 2),
                      "seconds": round(time.perf_counter() - t0, 1)}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=sorted(CONFIGS), default="final")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", help="Penn Treebank folder: train one epoch (final mode) instead")
    ap.add_argument("--hidden", type=int, help="override the mode's hidden size")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = dict(CONFIGS[args.mode])
    if args.hidden:
        cfg["hidden"] = args.hidden
    if args.data:
        return train_one_epoch(args, cfg)
    shared = args.mode == "shared"
    model = PtbLM(cfg["hidden"], cfg["nodes"], shared, cfg["init_range"])
    # enas_lm scales the rate by window length / bptt_steps; every window here is BPTT long.
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    # One token stream per batch row, cut into consecutive windows as PTB batching does, so the
    # carried state meets the tokens that follow the previous window.
    total = args.warmup + args.steps
    data_gen = torch.Generator().manual_seed(args.seed + 1)
    data = torch.randint(0, VOCAB, (cfg["batch"], total * BPTT + 1), generator=data_gen)
    arc_gen = torch.Generator().manual_seed(args.seed + 2)
    fixed_arc = None if shared else parse_arc(ENAS_ARC)

    s = torch.zeros(cfg["batch"], cfg["hidden"])
    times = []
    for step in range(total):
        x = data[:, step * BPTT:(step + 1) * BPTT]
        y = data[:, step * BPTT + 1:(step + 1) * BPTT + 1]
        arc = random_arc(cfg["nodes"], arc_gen) if shared else fixed_arc
        t0 = time.perf_counter()
        loss, s = train_step(model, opt, x, y, s, arc, cfg)
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
        print(f"step={step} loss={loss:.4f} ms={dt * 1e3:.1f}", file=sys.stderr)
    if not math.isfinite(loss):
        raise SystemExit(f"non-finite loss {loss!r}")

    med = statistics.median(times)
    tokens = cfg["batch"] * BPTT
    print(json.dumps({"impl": "pytorch_reference", "mode": args.mode, "threads": args.threads,
                      "hidden": cfg["hidden"], "batch": cfg["batch"], "bptt": BPTT,
                      "steps": args.steps, "tokens_per_s": round(tokens / med, 1),
                      "ms_per_step": round(med * 1e3, 2)}))


if __name__ == "__main__":
    main()
