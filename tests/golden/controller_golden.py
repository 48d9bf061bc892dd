#!/usr/bin/python3
"""Golden values for the ENAS controllers (tests/unit/controller/test_controller.cpp).

An independent re-statement of the authors' controller equations (melodyguan/enas:
src/cifar10/general_controller.py with search_whole_channels, src/cifar10/micro_controller.py and
src/common_ops.py's lstm), written from their TensorFlow code, not from our C++. For fixed weights
and fixed architectures (teacher forcing) it computes per architecture:

  log_prob      sum over every decision of log p(decision)  (the NEGATIVE of the authors'
                sample_log_prob, which sums sparse_softmax_cross_entropy_with_logits)
  entropy       the authors' sample_entropy: macro, sum of -log p(a) * p(a) of the taken
                decisions; micro, sum of the full distributions' entropies
  skip_penalty  macro: mean over layers 1..N-1 of sum(sigmoid(l) * log(sigmoid(l) / target))
  skip_count    macro: number of skip bits set

Weights need no random generator: parameter tensor `name` holds, at flattened (row-major) index k,
float32(kScale * sin(kFreq * k + offset[name])). Computation runs in float64 on the float32-rounded
weights, one architecture at a time (no batching), so the C++ float32 batched pass is checked
against an exact reference.

Run with Debian's torch (1.13):
  /usr/bin/python3 tests/golden/controller_golden.py tests/golden/controller_golden.h
"""

import math
import sys

import torch

SCALE = 0.5
FREQ = 0.37
# One phase per parameter tensor, keyed by our named_parameters() names; the authors' variable
# in brackets: lstm/layer_0/w, g_emb, emb/w, softmax/w, softmax/b, attention/w_1, w_2, v.
OFFSETS = {
    "core.w_lstm": 0.0,  # (2H, 4H)
    "core.g_emb": 1.0,  # (1, H)
    "w_emb": 2.0,  # (num_branches, H)
    "w_soft": 3.0,  # (H, num_branches)
    "w_attn_1": 4.0,  # (H, H)
    "w_attn_2": 5.0,  # (H, H)
    "v_attn": 6.0,  # (H, 1)
    "b_soft": 7.0,  # micro only: (1, num_branches)
}


def weight(name, shape):
    """The golden value of parameter `name`, a float64 leaf tensor that requires grad."""
    n = 1
    for s in shape:
        n *= s
    k = torch.arange(n, dtype=torch.float64)
    w = SCALE * torch.sin(FREQ * k + OFFSETS[name])
    # Round to float32 as the C++ parameters hold them, then compute in float64.
    return w.to(torch.float32).to(torch.float64).reshape(shape).requires_grad_()


def params(h, nb, micro):
    p = {
        "w_lstm": weight("core.w_lstm", (2 * h, 4 * h)),
        "g_emb": weight("core.g_emb", (1, h)),
        "w_emb": weight("w_emb", (nb, h)),
        "w_soft": weight("w_soft", (h, nb)),
        "w_attn_1": weight("w_attn_1", (h, h)),
        "w_attn_2": weight("w_attn_2", (h, h)),
        "v_attn": weight("v_attn", (h, 1)),
    }
    if micro:
        p["b_soft"] = weight("b_soft", (1, nb))
        p["b_soft_no_learn"] = torch.tensor(
            [[0.25, 0.25] + [-0.25] * (nb - 2)], dtype=torch.float64)
    return p


def lstm(x, prev_c, prev_h, w):
    """common_ops.lstm: [x, h] @ w split into i, f, o, g; no bias."""
    ifog = torch.cat([x, prev_h], dim=1) @ w
    i, f, o, g = torch.split(ifog, ifog.shape[1] // 4, dim=1)
    next_c = torch.sigmoid(i) * torch.tanh(g) + torch.sigmoid(f) * prev_c
    next_h = torch.sigmoid(o) * torch.tanh(next_c)
    return next_c, next_h


def xent(logits, label):
    """sparse_softmax_cross_entropy_with_logits for one row: -log softmax(logits)[label]."""
    return -torch.log_softmax(logits, dim=1)[0, label]


def full_entropy(logits):
    """softmax_cross_entropy_with_logits(logits, labels=softmax(logits))."""
    p = torch.softmax(logits, dim=1)
    return -(p * torch.log_softmax(logits, dim=1)).sum()


def macro_score(p, arc, num_layers, tanh_constant, temperature, skip_target):
    """general_controller._build_sampler, search_whole_channels=True, one LSTM layer."""
    h = p["g_emb"].shape[1]
    prev_c = torch.zeros(1, h, dtype=torch.float64)
    prev_h = torch.zeros(1, h, dtype=torch.float64)
    inputs = p["g_emb"]
    skip_targets = torch.tensor([1.0 - skip_target, skip_target], dtype=torch.float64)
    anchors, anchors_w_1 = [], []
    log_probs, entropys, skip_counts, skip_penaltys = [], [], [], []
    pos = 0
    for layer_id in range(num_layers):
        prev_c, prev_h = lstm(inputs, prev_c, prev_h, p["w_lstm"])
        logit = prev_h @ p["w_soft"]
        if temperature:
            logit = logit / temperature
        if tanh_constant:
            logit = tanh_constant * torch.tanh(logit)
        branch_id = arc[pos]
        pos += 1
        log_prob = xent(logit, branch_id)  # the authors' log_prob: a cross-entropy, >= 0
        log_probs.append(log_prob)
        entropys.append(log_prob * torch.exp(-log_prob))
        inputs = p["w_emb"][branch_id:branch_id + 1]

        prev_c, prev_h = lstm(inputs, prev_c, prev_h, p["w_lstm"])
        if layer_id > 0:
            query = torch.cat(anchors_w_1, dim=0)  # (layer_id, H)
            query = torch.tanh(query + prev_h @ p["w_attn_2"])
            query = query @ p["v_attn"]  # (layer_id, 1)
            logit = torch.cat([-query, query], dim=1)  # (layer_id, 2)
            if temperature:
                logit = logit / temperature
            if tanh_constant:
                logit = tanh_constant * torch.tanh(logit)
            skip = arc[pos:pos + layer_id]
            pos += layer_id
            skip_prob = torch.sigmoid(logit)
            skip_penaltys.append((skip_prob * torch.log(skip_prob / skip_targets)).sum())
            log_prob = torch.stack([xent(logit[k:k + 1], skip[k]) for k in range(layer_id)])
            log_probs.append(log_prob.sum())
            entropys.append((log_prob * torch.exp(-log_prob)).sum())
            skip_f = torch.tensor([skip], dtype=torch.float64)  # (1, layer_id)
            skip_counts.append(skip_f.sum())
            inputs = skip_f @ torch.cat(anchors, dim=0)
            inputs = inputs / (1.0 + skip_f.sum())
        else:
            inputs = p["g_emb"]
        anchors.append(prev_h)
        anchors_w_1.append(prev_h @ p["w_attn_1"])
    assert pos == len(arc)
    log_prob = -torch.stack(log_probs).sum()
    skip_penalty = torch.stack(skip_penaltys).mean()
    return {
        "log_prob": float(log_prob),
        "entropy": float(torch.stack(entropys).sum()),
        "skip_penalty": float(skip_penalty),
        "skip_count": float(torch.stack(skip_counts).sum()),
        "objective": log_prob + skip_penalty,
    }


def micro_cell(p, cell, num_cells, prev_c, prev_h, use_bias, tanh_constant, op_tanh_reduce,
               temperature):
    """micro_controller._build_sampler for one cell; returns (log_prob, entropy, c, h), log_prob
    being the authors' (a sum of cross-entropies)."""
    inputs = p["g_emb"]
    anchors, anchors_w_1 = [], []
    for _ in range(2):
        prev_c, prev_h = lstm(inputs, prev_c, prev_h, p["w_lstm"])
        anchors.append(torch.zeros_like(prev_h))
        anchors_w_1.append(prev_h @ p["w_attn_1"])
    log_prob = torch.zeros((), dtype=torch.float64)
    entropy = torch.zeros((), dtype=torch.float64)
    for layer_id in range(2, num_cells + 2):
        start_id = 4 * (layer_id - 2)
        for i in range(2):  # index_1, index_2
            prev_c, prev_h = lstm(inputs, prev_c, prev_h, p["w_lstm"])
            query = torch.cat(anchors_w_1[:layer_id], dim=0)  # (layer_id, H)
            query = torch.tanh(query + prev_h @ p["w_attn_2"])
            query = query @ p["v_attn"]
            logits = query.reshape(1, layer_id)
            if temperature:
                logits = logits / temperature
            if tanh_constant:
                logits = tanh_constant * torch.tanh(logits)
            index = cell[start_id + 2 * i]
            log_prob = log_prob + xent(logits, index)
            entropy = entropy + full_entropy(logits)
            inputs = anchors[index]
        for i in range(2):  # op_1, op_2
            prev_c, prev_h = lstm(inputs, prev_c, prev_h, p["w_lstm"])
            logits = prev_h @ p["w_soft"] + p["b_soft"]
            if temperature:
                logits = logits / temperature
            if tanh_constant:
                logits = (tanh_constant / op_tanh_reduce) * torch.tanh(logits)
            if use_bias:
                logits = logits + p["b_soft_no_learn"]
            op_id = cell[start_id + 2 * i + 1]
            log_prob = log_prob + xent(logits, op_id)
            entropy = entropy + full_entropy(logits)
            inputs = p["w_emb"][op_id:op_id + 1]
        prev_c, prev_h = lstm(inputs, prev_c, prev_h, p["w_lstm"])
        anchors.append(prev_h)
        anchors_w_1.append(prev_h @ p["w_attn_1"])
        inputs = p["g_emb"]
    return log_prob, entropy, prev_c, prev_h


def micro_score(p, arc, num_cells, tanh_constant, op_tanh_reduce, temperature):
    """MicroController: the normal-cell sampler (with the constant bias), then the reduction-cell
    sampler starting from the normal sampler's last LSTM state."""
    h = p["g_emb"].shape[1]
    c0 = torch.zeros(1, h, dtype=torch.float64)
    h0 = torch.zeros(1, h, dtype=torch.float64)
    n = 4 * num_cells
    assert len(arc) == 2 * n
    lp1, ent1, c, hh = micro_cell(p, arc[:n], num_cells, c0, h0, True, tanh_constant,
                                  op_tanh_reduce, temperature)
    lp2, ent2, _, _ = micro_cell(p, arc[n:], num_cells, c, hh, False, tanh_constant,
                                 op_tanh_reduce, temperature)
    return {
        "log_prob": -float(lp1 + lp2),
        "entropy": float(ent1 + ent2),
        "skip_penalty": 0.0,
        "skip_count": 0.0,
        "objective": -(lp1 + lp2),
    }


MACRO_ARCS = [
    # layer 0: op; layer 1: op, 1 bit; layer 2: op, 2 bits; layer 3: op, 3 bits
    [2, 4, 1, 0, 0, 1, 5, 1, 1, 0],
    [1, 3, 0, 5, 1, 1, 2, 0, 1, 1],
    [0, 0, 0, 3, 0, 0, 4, 0, 0, 0],
]
MICRO_ARCS = [
    # normal cell (index_1 op_1 index_2 op_2 per block), then the reduction cell
    [0, 2, 1, 0, 2, 4, 0, 3, 3, 1, 2, 0, 1, 1, 0, 3, 0, 2, 2, 4, 3, 0, 1, 2],
    [1, 0, 1, 1, 0, 0, 2, 1, 2, 3, 3, 4, 0, 4, 1, 4, 2, 1, 1, 0, 0, 3, 3, 3],
]

CASES = [
    dict(name="macro", macro=True, lstm_size=64, num_branches=6, num_layers=4, num_cells=0,
         tanh_constant=1.5, op_tanh_reduce=1.0, temperature=0.0, skip_target=0.8,
         arcs=MACRO_ARCS),
    dict(name="macro_temperature", macro=True, lstm_size=64, num_branches=6, num_layers=4,
         num_cells=0, tanh_constant=1.5, op_tanh_reduce=1.0, temperature=5.0, skip_target=0.8,
         arcs=MACRO_ARCS),
    dict(name="micro", macro=False, lstm_size=64, num_branches=5, num_layers=0, num_cells=3,
         tanh_constant=1.1, op_tanh_reduce=2.5, temperature=0.0, skip_target=0.8,
         arcs=MICRO_ARCS),
    dict(name="micro_temperature", macro=False, lstm_size=64, num_branches=5, num_layers=0,
         num_cells=3, tanh_constant=1.1, op_tanh_reduce=2.5, temperature=5.0, skip_target=0.8,
         arcs=MICRO_ARCS),
]


# Our parameter names (named_parameters()) of the entries of params().
OUR_NAMES = {"w_lstm": "core.w_lstm", "g_emb": "core.g_emb", "w_emb": "w_emb", "w_soft": "w_soft",
             "w_attn_1": "w_attn_1", "w_attn_2": "w_attn_2", "v_attn": "v_attn",
             "b_soft": "b_soft"}


def score(case, arc, p=None):
    if p is None:
        p = params(case["lstm_size"], case["num_branches"], not case["macro"])
    if case["macro"]:
        return macro_score(p, arc, case["num_layers"], case["tanh_constant"],
                           case["temperature"], case["skip_target"])
    return micro_score(p, arc, case["num_cells"], case["tanh_constant"],
                       case["op_tanh_reduce"], case["temperature"])


def gradients(case):
    """d/dw of sum over the case's architectures of (log_prob + skip_penalty), per parameter:
    (our name, L2 norm, sum of entries, entry 0). Entropy carries no gradient (stop_gradient)."""
    p = params(case["lstm_size"], case["num_branches"], not case["macro"])
    total = sum(score(case, a, p)["objective"] for a in case["arcs"])
    total.backward()
    out = []
    for key, name in OUR_NAMES.items():
        if key in p:
            g = p[key].grad
            out.append((name, float(g.norm()), float(g.sum()), float(g.reshape(-1)[0])))
    return out


def uniform_log_prob(case, arc):
    """log p of `arc` under a policy with all-zero logits: how far the golden is from trivial."""
    total = 0.0
    if case["macro"]:
        pos = 0
        for layer in range(case["num_layers"]):
            total -= math.log(case["num_branches"]) + layer * math.log(2)
            pos += 1 + layer
    else:
        for block in range(case["num_cells"]):
            total -= 2 * (2 * math.log(block + 2) + 2 * math.log(case["num_branches"]))
    return total


def cpp(x):
    return repr(float(x))


def header(cases):
    out = []
    out.append("// Generated by tests/golden/controller_golden.py -- do not edit. Regenerate with:")
    out.append("//   /usr/bin/python3 tests/golden/controller_golden.py "
               "tests/golden/controller_golden.h")
    out.append("// (Debian's torch 1.13). The authors' controller equations, computed in float64 for")
    out.append("// the weights below and the listed architectures (teacher forcing).")
    out.append("#pragma once")
    out.append("")
    out.append("#include <cstdint>")
    out.append("#include <string>")
    out.append("#include <utility>")
    out.append("#include <vector>")
    out.append("")
    out.append("namespace enas::golden::controller {")
    out.append("")
    out.append("// clang-format off")
    out.append("// Parameter `name` holds, at flattened row-major index k,")
    out.append("// float(kWeightScale * sin(kWeightFreq * k + offset)), offset from kWeightOffsets.")
    out.append(f"inline constexpr double kWeightScale = {cpp(SCALE)};")
    out.append(f"inline constexpr double kWeightFreq = {cpp(FREQ)};")
    out.append("inline const std::vector<std::pair<std::string, double>> kWeightOffsets = {")
    for name, off in OFFSETS.items():
        out.append(f'    {{"{name}", {cpp(off)}}},')
    out.append("};")
    out.append("")
    out.append("struct Case {")
    out.append("  std::string name;")
    out.append("  bool macro;")
    out.append("  int64_t lstm_size, num_branches, num_layers, num_cells;")
    out.append("  double tanh_constant, op_tanh_reduce, temperature, skip_target;")
    out.append("  std::vector<std::vector<int>> arcs;")
    out.append("  // Per architecture: sum of log p (<= 0), the authors' entropy term, skip terms.")
    out.append("  std::vector<double> log_prob, entropy, skip_penalty, skip_count;")
    out.append("  // d/dw of the sum over the architectures of (log_prob + skip_penalty), per")
    out.append("  // parameter: {name, {L2 norm, sum of entries, first entry}}.")
    out.append("  std::vector<std::pair<std::string, std::vector<double>>> grad;")
    out.append("};")
    out.append("")
    out.append("inline const std::vector<Case> kCases = {")
    for case in cases:
        res = [score(case, a) for a in case["arcs"]]
        out.append("    {")
        out.append(f'        "{case["name"]}", {"true" if case["macro"] else "false"}, '
                   f'{case["lstm_size"]}, {case["num_branches"]}, {case["num_layers"]}, '
                   f'{case["num_cells"]},')
        out.append(f'        {cpp(case["tanh_constant"])}, {cpp(case["op_tanh_reduce"])}, '
                   f'{cpp(case["temperature"])}, {cpp(case["skip_target"])},')
        out.append("        {")
        for a in case["arcs"]:
            out.append("            {" + ", ".join(str(v) for v in a) + "},")
        out.append("        },")
        for key in ("log_prob", "entropy", "skip_penalty", "skip_count"):
            out.append(f"        {{{', '.join(cpp(r[key]) for r in res)}}},  // {key}")
        out.append("        {")
        for name, norm, total, first in gradients(case):
            out.append(f'            {{"{name}", {{{cpp(norm)}, {cpp(total)}, {cpp(first)}}}}},')
        out.append("        },")
        out.append("    },")
        for a, r in zip(case["arcs"], res):
            print(f'{case["name"]:18s} log_prob {r["log_prob"]:.9f} (uniform '
                  f'{uniform_log_prob(case, a):.6f}) entropy {r["entropy"]:.9f} '
                  f'skip_penalty {r["skip_penalty"]:.9f} skip_count {r["skip_count"]:.0f}',
                  file=sys.stderr)
    out.append("};")
    out.append("// clang-format on")
    out.append("")
    out.append("}  // namespace enas::golden::controller")
    return "\n".join(out) + "\n"


def main():
    text = header(CASES)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
