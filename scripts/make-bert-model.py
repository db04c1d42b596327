#!/usr/bin/env python3
"""Generates a BERT sequence classifier in the exact folder layout of Xenova/finbert:

    OUT/config.json              FinBERT's labels (positive/negative/neutral) and id2label
    OUT/tokenizer.json           a WordPiece tokenizer (Hugging Face tokenizers format)
    OUT/tokenizer_config.json
    OUT/onnx/model.onnx          fp32
    OUT/onnx/model_quantized.onnx  int8: dynamic quantization of every MatMul weight, per column
    OUT/revision.txt             a content hash, stored on every classified row as model_revision

Sizes: `tiny` (committed under services/sortation/test-model/ for tests) and `base` (FinBERT's
exact architecture and size with random weights, ~438 MB fp32, for the benchmark; written
outside git, e.g. .ops/models/).

Needs Debian's python3-torch and python3-onnx (apt-get install python3-torch python3-onnx).
Deterministic: the same --size and --seed give the same weights (the benchmark's PyTorch
baseline rebuilds them from the seed instead of reading a second copy).

    python3 scripts/make-bert-model.py --size tiny --out services/sortation/test-model/ops-pipeline/tiny-finbert
    python3 scripts/make-bert-model.py --size base --out .ops/models/ops-pipeline/finbert-shaped
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_model import ID2LABEL, build_model  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Words of financial headlines; anything else is spelled out in WordPiece pieces. A real
# FinBERT vocabulary has 30522 entries; this one is small so the tiny model stays tiny.
WORDS = """
the a an of to in on for and or with by at from as is are was were be has have had will would
not no new says said after before over under up down than more less its their it this that
shares stock stocks market markets price prices rate rates fed bank banks earnings revenue profit
profits loss losses quarter year annual guidance forecast outlook sales growth dividend buyback
beat beats miss misses record high low higher lower rise rises rose fall falls fell jump jumps
surge surges soar soars plunge plunges slump slumps drop drops gain gains rally rallies slide
upgrade upgrades downgrade downgrades raises raised cuts cut strong weak weaker stronger
analyst analysts investors investor deal merger acquisition acquire acquires buy sell hold
billion million percent points index dow nasdaq nyse s p oil gold dollar bond bonds yields
inflation jobs report ceo cfo chief executive company companies inc corp plc group holdings
apple microsoft nvidia amazon tesla google alphabet meta netflix intel amd boeing ford
lawsuit probe fraud recall bankruptcy layoffs warning warns expects expected estimates
approval approves approved fda sec chip chips ai cloud software energy retail consumer
""".split()


def build_vocab():
    vocab = {}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789$.,:;!?%&'()-/\"+":
        vocab[ch] = len(vocab)
        vocab["##" + ch] = len(vocab)
    for word in WORDS:
        if word not in vocab:
            vocab[word] = len(vocab)
    return vocab


def tokenizer_json(vocab):
    special = lambda token: {  # noqa: E731
        "id": vocab[token], "content": token, "single_word": False, "lstrip": False,
        "rstrip": False, "normalized": False, "special": True,
    }
    sp = lambda token: {"id": token, "ids": [vocab[token]], "tokens": [token]}  # noqa: E731
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(t) for t in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": sp("[CLS]"), "[SEP]": sp("[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def export_onnx(model, path, vocab_size):
    ids = torch.randint(5, vocab_size, (2, 16))
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    torch.onnx.export(
        model, (ids, mask, types), path,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                      "attention_mask": {0: "batch", 1: "sequence"},
                      "token_type_ids": {0: "batch", 1: "sequence"},
                      "logits": {0: "batch"}},
        opset_version=14, do_constant_folding=True,
    )


def quantize_matmuls(src, dst):
    """Dynamic int8 quantization of every MatMul whose right operand is a weight, the scheme of
    onnxruntime's quantize_dynamic(per_channel=True): activations quantized at run time to uint8
    (DynamicQuantizeLinear), weights stored as int8, symmetric, one scale per output column,
    MatMulInteger then a float rescale. onnxruntime fuses this into DynamicQuantizeMatMul."""
    model = onnx.load(src)
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    nodes = []
    quantized_inputs = {}
    count = 0
    for node in graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weight).astype(np.float32)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-8) / 127.0
        wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        base = weight.name.replace(".", "_").replace("/", "_") + f"_q{count}"
        count += 1
        graph.initializer.append(numpy_helper.from_array(wq, base + "_int8"))
        graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32), base + "_scale"))
        graph.initializer.append(numpy_helper.from_array(np.array(0, dtype=np.int8), base + "_zero"))
        x = node.input[0]
        if x not in quantized_inputs:
            q = [x + "_quantized", x + "_scale", x + "_zero_point"]
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], q, name=x + "_DynamicQuantizeLinear"))
            quantized_inputs[x] = q
        xq, xs, xz = quantized_inputs[x]
        nodes.append(helper.make_node("MatMulInteger", [xq, base + "_int8", xz, base + "_zero"],
                                      [base + "_int32"], name=base + "_MatMulInteger"))
        nodes.append(helper.make_node("Cast", [base + "_int32"], [base + "_float"], to=TensorProto.FLOAT,
                                      name=base + "_Cast"))
        nodes.append(helper.make_node("Mul", [xs, base + "_scale"], [base + "_rescale"], name=base + "_ScaleMul"))
        nodes.append(helper.make_node("Mul", [base + "_float", base + "_rescale"], [node.output[0]],
                                      name=base + "_Mul"))
    used = {name for n in nodes for name in n.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["tiny", "base"], default="tiny")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()

    vocab = build_vocab()
    model, spec = build_model(args.size, len(vocab), args.seed)
    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    config = {
        "_name_or_path": f"ops-pipeline/{args.size}-finbert-shaped (random weights, seed {args.seed})",
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_size": spec["hidden"], "num_hidden_layers": spec["layers"],
        "num_attention_heads": spec["heads"], "intermediate_size": spec["intermediate"],
        "max_position_embeddings": spec["max_positions"], "type_vocab_size": 2,
        "vocab_size": spec["vocab"], "layer_norm_eps": 1e-12, "initializer_range": 0.02,
        "pad_token_id": 0, "position_embedding_type": "absolute",
        "id2label": {str(k): v for k, v in ID2LABEL.items()},
        "label2id": {v: k for k, v in ID2LABEL.items()},
        "ops_pipeline": {"size": args.size, "seed": args.seed},
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(vocab), f, separators=(",", ":"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
                   "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
                   "mask_token": "[MASK]", "clean_up_tokenization_spaces": True}, f, indent=2)
    fp32 = os.path.join(args.out, "onnx", "model.onnx")
    int8 = os.path.join(args.out, "onnx", "model_quantized.onnx")
    export_onnx(model, fp32, len(vocab))
    n = quantize_matmuls(fp32, int8)
    digest = hashlib.sha256()
    for path in (fp32, int8, os.path.join(args.out, "tokenizer.json")):
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    with open(os.path.join(args.out, "revision.txt"), "w") as f:
        f.write(f"{args.size}-seed{args.seed}-{digest.hexdigest()[:12]}\n")
    sizes = {p: os.path.getsize(p) for p in (fp32, int8)}
    print(json.dumps({"out": args.out, "quantizedMatMuls": n, "bytes": sizes}))


if __name__ == "__main__":
    main()
