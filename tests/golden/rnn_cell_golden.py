#!/usr/bin/python3
"""Golden values for the ENAS recurrent cell on Penn Treebank (google-research enas_lm).

An independent float64 re-statement of the cell the C++ child implements, in evaluation mode
(no dropout, no regularisation), written from the equations rather than from our C++:

  node 0 (highway from the input):  [x_t, s] @ w_prev = (c, g);  s_0 = s + sig(g) * (tanh(c) - s)
  node k = 1..N reads q = layers[prev_k]:  q @ w_k = (c, g);  s_k = q + sig(g) * (f_k(c) - q)
  output:  s_t = mean(s_1 .. s_N)   (s_0 is not averaged), carried to step t + 1
  logits = s_t @ w_emb^T (tied softmax);  loss = mean over B*T of cross-entropy

Weights need no random generator: a tensor with salt s holds, at flattened row-major index i,
kWeightScale * sin(kWeightFreq * i + s), computed in double (not rounded to float32), so a C++
test running in double can match to ~1e-12 and a float32 one to ~1e-5.

Run with Debian's torch (1.13):
  /usr/bin/python3 tests/golden/rnn_cell_golden.py tests/golden/rnn_cell_golden.h
"""

import math
import sys

import torch

torch.set_default_dtype(torch.float64)

VOCAB, HIDDEN, BATCH, STEPS = 11, 5, 2, 4
WEIGHT_SCALE, WEIGHT_FREQ = 0.3, 0.7
SALT_EMB, SALT_PREV, SALT_NODE0 = 1.0, 2.0, 3.0  # node k uses SALT_NODE0 + k
INIT_SCALE = 0.1

# google-research enas_lm/README.md: the cell ENAS found, and the DARTS cell.
ENAS_ARC = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
DARTS_ARC = "0 2 1 1 1 1 1 3 2 0 5 2 3 0 5 1"


def salted(shape, salt):
    n = 1
    for d in shape:
        n *= d
    i = torch.arange(n, dtype=torch.float64)
    return (WEIGHT_SCALE * torch.sin(WEIGHT_FREQ * i + salt)).reshape(shape)


def parse(arc):
    flat = [int(v) for v in arc.split()]
    pairs = [(flat[2 * k], flat[2 * k + 1]) for k in range(len(flat) // 2)]
    for k, (prev, func) in enumerate(pairs):
        # Node k may read s_0 or any of nodes 0..k-1 (indices 1..k): 0..k in all.
        assert 0 <= prev <= k and 0 <= func <= 3, (arc, k)
    return pairs


def weights(num_nodes):
    return {
        "w_emb": salted((VOCAB, HIDDEN), SALT_EMB),
        "w_prev": salted((2 * HIDDEN, 2 * HIDDEN), SALT_PREV),
        "w_nodes": [salted((HIDDEN, 2 * HIDDEN), SALT_NODE0 + k) for k in range(num_nodes)],
    }


def tokens():
    x = [[(7 * b + 3 * t + 1) % VOCAB for t in range(STEPS)] for b in range(BATCH)]
    y = [[(v * 2 + 1) % VOCAB for v in row] for row in x]
    return torch.tensor(x, dtype=torch.long), torch.tensor(y, dtype=torch.long)


def initial_state():
    s = [[INIT_SCALE * math.cos(b * HIDDEN + h) for h in range(HIDDEN)] for b in range(BATCH)]
    return torch.tensor(s)


def func(index, c):
    if index == 0:
        return torch.tanh(c)
    if index == 1:
        return torch.relu(c)
    if index == 2:
        return torch.sigmoid(c)
    return c


def highway(q, w, f):
    """One node: the candidate f(c) blended into its input q by the gate sigmoid(g)."""
    ht = q @ w
    c, g = ht[:, :HIDDEN], ht[:, HIDDEN:]
    gate = torch.sigmoid(g)
    return q + gate * (func(f, c) - q)


def run_cell(pairs, w, x, s):
    """Runs the cell over x's steps from state s; returns (all_s (B, T, H), final s (B, H))."""
    emb = w["w_emb"][x]  # (B, T, H)
    outs = []
    for t in range(x.shape[1]):
        # Node 0 reads [x_t, s] but blends into s alone, so it is not a highway() call.
        ht = torch.cat([emb[:, t], s], dim=1) @ w["w_prev"]
        layers = [s + torch.sigmoid(ht[:, HIDDEN:]) * (torch.tanh(ht[:, :HIDDEN]) - s)]
        for k, (prev, f) in enumerate(pairs):
            layers.append(highway(layers[prev], w["w_nodes"][k], f))
        s = torch.stack(layers[1:], dim=0).mean(dim=0)
        outs.append(s)
    return torch.stack(outs, dim=1), s


def loss_of(w, all_s, y):
    logits = all_s @ w["w_emb"].t()  # (B, T, V)
    logp = torch.log_softmax(logits.reshape(-1, VOCAB), dim=1)
    nll = -logp.gather(1, y.reshape(-1, 1)).squeeze(1)
    return nll.mean()


def case(arc):
    pairs = parse(arc)
    w = weights(len(pairs))
    x, y = tokens()
    all_s, s = run_cell(pairs, w, x, initial_state())
    return all_s, s, loss_of(w, all_s, y)


def check_state_carries():
    """Two 2-step calls, the second starting from the first's final state, must equal one
    4-step call: the cell's only memory across calls is s."""
    pairs = parse(ENAS_ARC)
    w = weights(len(pairs))
    x, _ = tokens()
    full, s_full = run_cell(pairs, w, x, initial_state())
    first, s_mid = run_cell(pairs, w, x[:, :2], initial_state())
    second, s_end = run_cell(pairs, w, x[:, 2:], s_mid)
    joined = torch.cat([first, second], dim=1)
    assert torch.allclose(joined, full, rtol=0, atol=1e-14), (joined - full).abs().max()
    assert torch.allclose(s_end, s_full, rtol=0, atol=1e-14)
    # A different start must give different outputs, else the check above proves nothing.
    restarted, _ = run_cell(pairs, w, x[:, 2:], initial_state())
    assert (restarted - full[:, 2:]).abs().max() > 1e-6


def cpp(v):
    return f"{float(v):.17g}"


def array(name, ctype, size_expr, values, per_line):
    out = [f"inline constexpr {ctype} {name}[{size_expr}] = {{"]
    vals = list(values)
    for i in range(0, len(vals), per_line):
        out.append("    " + ", ".join(vals[i:i + per_line]) + ",")
    out.append("};")
    return out


def header():
    x, y = tokens()
    out = [
        "// Generated by tests/golden/rnn_cell_golden.py -- do not edit. Regenerate with:",
        "//   /usr/bin/python3 tests/golden/rnn_cell_golden.py tests/golden/rnn_cell_golden.h",
        "// (Debian's torch 1.13). The enas_lm recurrent cell in evaluation mode (no dropout),",
        "// computed in float64 for the weights, tokens and initial state described below.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "",
        "namespace enas::golden::rnn_cell {",
        "",
        "// clang-format off",
        f"inline constexpr int64_t kVocab = {VOCAB};",
        f"inline constexpr int64_t kHidden = {HIDDEN};",
        f"inline constexpr int64_t kBatch = {BATCH};",
        f"inline constexpr int64_t kSteps = {STEPS};",
        "",
        "// A weight with salt s holds, at flattened row-major index i,",
        "// kWeightScale * sin(kWeightFreq * i + s) in double. w_emb (kVocab, kHidden) has",
        "// kSaltEmb; w_prev (2 kHidden, 2 kHidden) kSaltPrev; node k's (kHidden, 2 kHidden)",
        "// kSaltNode0 + k. Each matrix multiplies from the right: [x, s] @ w_prev, q @ w_k.",
        f"inline constexpr double kWeightScale = {cpp(WEIGHT_SCALE)};",
        f"inline constexpr double kWeightFreq = {cpp(WEIGHT_FREQ)};",
        f"inline constexpr double kSaltEmb = {cpp(SALT_EMB)};",
        f"inline constexpr double kSaltPrev = {cpp(SALT_PREV)};",
        f"inline constexpr double kSaltNode0 = {cpp(SALT_NODE0)};",
        "// Initial state s0[b][h] = kInitScale * cos(b * kHidden + h).",
        f"inline constexpr double kInitScale = {cpp(INIT_SCALE)};",
        "",
        "// (kBatch, kSteps): tokens x[b][t] = (7b + 3t + 1) % kVocab, targets (2x + 1) % kVocab.",
    ]
    out += array("kTokens", "int64_t", "kBatch * kSteps", (str(v) for v in x.reshape(-1).tolist()),
                 STEPS)
    out += array("kTargets", "int64_t", "kBatch * kSteps",
                 (str(v) for v in y.reshape(-1).tolist()), STEPS)
    out += [""]
    out += array("kInitialState", "double", "kBatch * kHidden",
                 (cpp(v) for v in initial_state().reshape(-1).tolist()), HIDDEN)
    out += [
        "",
        "// google-research enas_lm/README.md: (prev_index, func) per node, 8 nodes each.",
        f'inline constexpr const char* kEnasArc = "{ENAS_ARC}";',
        f'inline constexpr const char* kDartsArc = "{DARTS_ARC}";',
        "",
        "// Per arc: all_s (kBatch, kSteps, kHidden) row-major, the final state (kBatch, kHidden),",
        "// and the mean cross-entropy of all_s @ w_emb^T against kTargets.",
    ]
    for prefix, arc in (("kEnas", ENAS_ARC), ("kDarts", DARTS_ARC)):
        all_s, s, loss = case(arc)
        out += array(f"{prefix}AllS", "double", "kBatch * kSteps * kHidden",
                     (cpp(v) for v in all_s.reshape(-1).tolist()), HIDDEN)
        out += array(f"{prefix}FinalState", "double", "kBatch * kHidden",
                     (cpp(v) for v in s.reshape(-1).tolist()), HIDDEN)
        out.append(f"inline constexpr double {prefix}Loss = {cpp(loss)};")
        out.append("")
        print(f"{prefix[1:].lower():5s} loss {float(loss):.12f} (uniform "
              f"{float(torch.log(torch.tensor(float(VOCAB)))):.6f}) |all_s| max "
              f"{float(all_s.abs().max()):.6f}", file=sys.stderr)
    out += ["// clang-format on", "", "}  // namespace enas::golden::rnn_cell"]
    return "\n".join(out) + "\n"


def main():
    check_state_carries()
    text = header()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
