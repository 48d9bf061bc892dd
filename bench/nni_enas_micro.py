#!/usr/bin/env python3
"""Times NNI's ENAS micro search child step, for comparison with `enas bench --only shared`.

Uses an NNI source checkout (v2.8: examples/nas/oneshot/enas/{micro,ops,utils}.py and
nni/algorithms/nas/pytorch/enas/{mutator,trainer}.py) through sys.path; nothing of NNI is copied
here. The step is the body of EnasTrainer.train_one_epoch's child loop (trainer.py), built as
search.py does with --search-for micro --v1. search.py's default (Retiarii) path is not used: in
v2.8 micro.py's Cell.forward returns the chosen input without running the sampled op when its
input choice is a PathSamplingInputChoice, and that trainer cannot take aux logits.
  /usr/bin/python3 bench/nni_enas_micro.py --nni DIR [--threads N] [--steps N] [--channels-last]
"""
import argparse
import inspect
import json
import os
import statistics
import sys
import time
import types

import torch
import torch.nn as nn


def import_nni(root):
    # nni/__init__.py pulls in the experiment/CLI machinery (colorama, json_tricks, ...); the child
    # step needs only nni.nas.pytorch and nni.algorithms.nas.pytorch, so an empty package with the
    # checkout's path stands in for it and the subpackages load from the checkout as usual.
    pkg = types.ModuleType("nni")
    pkg.__path__ = [os.path.join(root, "nni")]
    sys.modules["nni"] = pkg
    # micro.py's Cell.forward imports this class on every call only for an isinstance test that is
    # false under the v1 mutator; the real module needs Retiarii (cloudpickle, lightning, ...).
    stub = types.ModuleType("nni.retiarii.oneshot.pytorch.random")
    stub.PathSamplingInputChoice = type("PathSamplingInputChoice", (), {})
    sys.modules[stub.__name__] = stub
    sys.path.insert(0, os.path.join(root, "examples", "nas", "oneshot", "enas"))
    from nni.algorithms.nas.pytorch.enas import EnasMutator, EnasTrainer
    from micro import MicroNetwork
    from utils import accuracy
    try:
        from nni.version import __version__ as version  # written by NNI's release build
    except ImportError:
        version = "unknown"
    return EnasMutator, EnasTrainer, MicroNetwork, accuracy, version


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nni", default=os.environ.get("ENAS_NNI_DIR"), help="NNI source checkout")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=160)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--filters", type=int, default=20)
    # search.py builds use_aux_heads=False; our cifar10_micro_search preset has the aux head on.
    ap.add_argument("--no-aux", action="store_true", help="as search.py: no auxiliary head")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    if not args.nni or not os.path.isdir(os.path.join(args.nni, "nni")):
        ap.error("--nni DIR (or $ENAS_NNI_DIR) must name an NNI source checkout")
    EnasMutator, EnasTrainer, MicroNetwork, accuracy, version = import_nni(os.path.abspath(args.nni))

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # search.py --search-for micro --v1, at the sizes asked for.
    model = MicroNetwork(num_layers=args.layers, out_channels=args.filters, num_nodes=args.nodes,
                         dropout_rate=0.1, use_aux_heads=not args.no_aux)
    mutator = EnasMutator(model, tanh_constant=1.1, cell_exit_extra_step=True)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), 0.05, momentum=0.9, weight_decay=1.0E-4)
    # EnasTrainer's own defaults (its constructor also opens a log directory in the cwd, so the
    # values are read from its signature rather than by building one).
    aux_weight = inspect.signature(EnasTrainer).parameters["aux_weight"].default

    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    if args.channels_last:
        # final_conv_w is 5-D, which Module.to(memory_format=...) rejects: convert the 4-D ones.
        for p in model.parameters():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    model.train()
    mutator.eval()
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        # From here to loss.item(): EnasTrainer.train_one_epoch's child step, less the logging.
        optimizer.zero_grad()
        with torch.no_grad():
            mutator.reset()
        logits = model(x)
        if isinstance(logits, tuple):
            logits, aux_logits = logits
            aux_loss = criterion(aux_logits, y)
        else:
            aux_loss = 0.
        metrics = accuracy(logits, y)
        loss = criterion(logits, y)
        loss = loss + aux_weight * aux_loss
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.)
        optimizer.step()
        metrics["loss"] = loss.item()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)

    med = statistics.median(times)
    print(json.dumps({
        "images_per_s": args.batch / med, "seconds_per_step_median": med, "steps": args.steps,
        "threads": args.threads, "nni_version": version, "torch": torch.__version__,
        "final_loss": metrics["loss"],
        "config": {"layers": args.layers, "nodes": args.nodes, "filters": args.filters,
                   "batch": args.batch, "aux_heads": not args.no_aux, "aux_weight": aux_weight,
                   "keep_prob": 0.9, "drop_path": None, "channels_last": args.channels_last,
                   "params": sum(p.numel() for p in model.parameters()),
                   "mutator": "EnasMutator(tanh_constant=1.1, cell_exit_extra_step=True)",
                   "optimizer": "SGD(lr=0.05, momentum=0.9, weight_decay=1e-4)",
                   "grad_clip": 5.0}}))


if __name__ == "__main__":
    main()
