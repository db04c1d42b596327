#!/usr/bin/env python3
"""The PyTorch eager fp32 baseline of bench/sortation.bench.ts: what the original plan's Python
worker would do. Rebuilds the very model the benchmark runs in ONNX (same architecture, same
seed, so the same weights: see scripts/bert_model.py), runs it on the token ids the benchmark
sends, with the same warm-up and repeat count, and prints JSON:

  {"results": [{"batchSize": 8, "headlinesPerSecond": ..., "runsMs": [...]}, ...],
   "probabilities": [[p0, p1, p2], ...],   # softmax of the first batch, to check it is the same model
   "peakRssMb": ..., "threads": 2, "torch": "1.13.1"}

Input on stdin: {"size": "tiny"|"base", "seed": N, "vocabSize": N, "threads": 2, "warmup": 1,
"repeat": 3, "batches": {"8": [{"input_ids": [[...]], "attention_mask": [[...]]}, ...], ...}}
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bert_model import build_model  # noqa: E402


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    model, _ = build_model(spec["size"], spec["vocabSize"], spec["seed"])
    tensors = {
        int(bs): [
            (torch.tensor(b["input_ids"]), torch.tensor(b["attention_mask"]))
            for b in batches
        ]
        for bs, batches in spec["batches"].items()
    }
    results = []
    probabilities = None
    with torch.inference_mode():
        for bs, batches in sorted(tensors.items()):
            def run_all():
                out = None
                for ids, mask in batches:
                    out = model(ids, mask, torch.zeros_like(ids))
                return out
            for _ in range(spec["warmup"]):
                run_all()
            runs = []
            for _ in range(spec["repeat"]):
                started = time.perf_counter()
                run_all()
                runs.append((time.perf_counter() - started) * 1000)
            runs_sorted = sorted(runs)
            median = runs_sorted[len(runs_sorted) // 2]
            headlines = sum(ids.shape[0] for ids, _ in batches)
            results.append({"batchSize": bs, "headlinesPerSecond": headlines / (median / 1000), "runsMs": runs})
            if probabilities is None:
                ids, mask = batches[0]
                probabilities = torch.softmax(model(ids, mask, torch.zeros_like(ids)), dim=-1).tolist()
    print(json.dumps({
        "results": results,
        "probabilities": probabilities,
        "peakRssMb": peak_rss_mb(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
