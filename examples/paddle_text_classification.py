"""Classify variable-length token sequences in Paddle's idiom, with a seqnet GRU in the middle.

Requirements: seqnet, paddlepaddle. Run: python examples/paddle_text_classification.py

The part that goes wrong when written by hand: padded batches. The user's own paddle.nn.Embedding feeds a
seqnet GRU built with output_mode="last", so the head sees each sequence's last *valid* step (forward
direction) and step 0 of the reverse direction: padding never leaks into the prediction.

Task: a sequence of tokens 1..9 (0 is padding) is class 1 when it holds more 7s than 3s, else class 0.
"""

from __future__ import annotations

import numpy as np
from seqnet_backends.paddle.model import paddle  # imported quietly, threads restored

import seqnet

VOCAB, CLASSES, MAX_LEN = 10, 2, 12


def make_batch(rng: np.random.Generator, batch: int):
    lengths = rng.integers(3, MAX_LEN + 1, size=batch)
    tokens = np.zeros((batch, MAX_LEN), dtype=np.int64)
    labels = np.zeros(batch, dtype=np.int64)
    for b, n in enumerate(lengths):
        tokens[b, :n] = rng.integers(1, VOCAB, size=n)
        labels[b] = int((tokens[b, :n] == 7).sum() > (tokens[b, :n] == 3).sum())
    return paddle.to_tensor(tokens), paddle.to_tensor(lengths), paddle.to_tensor(labels)


class Classifier(paddle.nn.Layer):
    def __init__(self, embed: int = 16, hidden: int = 32):
        super().__init__()
        self.embedding = paddle.nn.Embedding(VOCAB, embed, padding_idx=0)
        spec = seqnet.Spec("gru", embed, hidden, bidirectional=True, output_size=CLASSES, output_mode="last")
        self.rnn = seqnet.build(spec, "paddle", seqnet.init_weights(spec, seed=0))

    def forward(self, tokens, lengths):
        logits, _ = self.rnn(self.embedding(tokens), lengths=lengths)
        return logits


def train(steps: int = 300, batch: int = 64, seed: int = 0, verbose: bool = True) -> list[float]:
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    model = Classifier()
    optimizer = paddle.optimizer.Adam(learning_rate=0.01, parameters=model.parameters())
    losses = []
    for step in range(steps):
        tokens, lengths, labels = make_batch(rng, batch)
        loss = paddle.nn.functional.cross_entropy(model(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
        if verbose and step % 50 == 0:
            print(f"step {step:4d}  loss {np.mean(losses[-50:]):.4f}")
    model.eval()
    tokens, lengths, labels = make_batch(rng, 1000)
    accuracy = float((model(tokens, lengths).argmax(-1) == labels).astype("float32").mean())
    if verbose:
        print(f"held-out accuracy on 1000 sequences: {accuracy:.3f}")
    return losses


if __name__ == "__main__":
    train()
