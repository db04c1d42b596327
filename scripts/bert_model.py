"""A BERT for sequence classification in plain PyTorch, the architecture of FinBERT
(ProsusAI/finbert, exported by Xenova as Xenova/finbert), with random weights from a seed.

Shared by scripts/make-bert-model.py (which exports it to ONNX in the Xenova/finbert folder
layout) and bench/sortation_torch_baseline.py (which runs the very same weights in PyTorch
eager fp32 as the benchmark's baseline). No Hugging Face Python packages are needed: Debian's
python3-torch is enough.
"""

import math

import torch
from torch import nn

# FinBERT's labels, in its config's order.
ID2LABEL = {0: "positive", 1: "negative", 2: "neutral"}

SIZES = {
    # Small enough to commit (well under 1 MB) yet the same graph as FinBERT.
    "tiny": dict(hidden=32, layers=2, heads=2, intermediate=64, vocab=None, max_positions=512),
    # FinBERT's exact shape: BERT-base, 12 x 768, 12 heads, FFN 3072, vocabulary 30522.
    "base": dict(hidden=768, layers=12, heads=12, intermediate=3072, vocab=30522, max_positions=512),
}


class Layer(nn.Module):
    def __init__(self, hidden, heads, intermediate):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, intermediate)
        self.ffn_out = nn.Linear(intermediate, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, additive_mask):
        batch, seq, hidden = x.shape
        head_dim = hidden // self.heads

        def split(t):
            return t.view(batch, seq, self.heads, head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(head_dim) + additive_mask
        context = torch.matmul(torch.softmax(scores, dim=-1), v)
        context = context.transpose(1, 2).reshape(batch, seq, hidden)
        x = self.attention_norm(x + self.attention_out(context))
        return self.ffn_norm(x + self.ffn_out(nn.functional.gelu(self.ffn_in(x))))


class BertForSequenceClassification(nn.Module):
    def __init__(self, hidden, layers, heads, intermediate, vocab, max_positions, labels=3):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([Layer(hidden, heads, intermediate) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, labels)

    def forward(self, input_ids, attention_mask, token_type_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)
        x = self.embedding_norm(x)
        additive = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, additive)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(pooled)


def build_model(size, vocab_size, seed):
    """Random weights from `seed`; every layer gets its own values (nn.Linear's default
    initialisation draws each tensor separately), so no weight is shared or cached twice."""
    spec = dict(SIZES[size])
    spec["vocab"] = spec["vocab"] or vocab_size
    torch.manual_seed(seed)
    model = BertForSequenceClassification(**spec)
    with torch.no_grad():
        # BERT's initialiser, normal(0, 0.02), for the base size; the tiny model gets wider
        # weights so its three probabilities and labels visibly differ between headlines.
        std = 0.02 if size == "base" else 0.5
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                param.normal_(0.0, std)
        if size == "tiny":
            model.classifier.weight.normal_(0.0, 2.0)
    model.eval()
    return model, spec
