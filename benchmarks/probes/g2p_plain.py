"""One G2P training step: lstmkit's Seq2Seq beside plain PyTorch models of the same shape.

Batches come from the embedded CMUdict's training words, bucketed by source length as
`lstmkit translate` makes them. Each model runs forward, label-smoothed loss, backward,
clipping and an Adam step on the same batches, in one process, alternating so that load
changes hit all alike. Run it niced (`nice -n 19 .venv/bin/python
benchmarks/probes/g2p_plain.py --threads 1`) and quote it with the load it prints.

The plain models: ``torch-feed`` (nn.LSTM encoder over a packed batch, nn.LSTMCell decoder
stepped with input feeding, Luong general attention) and ``torch-nofeed`` (the decoder one
nn.LSTM call over all target steps, attention over all steps at once: the issue's anchor).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.nn.seq2seq import Seq2Seq
from lstmkit.tasks.translate.data import PairBatches, Vocabulary, tokenize
from lstmkit.tasks.translate.g2p import g2p_split, load_cmudict


class PlainSeq2Seq(nn.Module):
    """BiLSTM encoder, LSTM decoder with Luong general attention, in plain torch.nn."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int, hidden: int, feed: bool):
        super().__init__()
        self.feed = feed
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=0)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=0)
        self.encoder = nn.LSTM(emb, hidden // 2, batch_first=True, bidirectional=True)
        if feed:
            self.cell = nn.LSTMCell(emb + hidden, hidden)
        else:
            self.decoder = nn.LSTM(emb, hidden, batch_first=True)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, tgt_vocab)
        self.drop = nn.Dropout(0.1)

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        x = self.drop(self.src_emb(src))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        mem, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        mask = torch.arange(src.shape[1])[None, :] < lengths[:, None]
        keys = self.key(mem)
        state = (torch.cat([h[0], h[1]], -1), torch.cat([c[0], c[1]], -1))
        y = self.drop(self.tgt_emb(tgt_in))
        if self.feed:
            feed, feats = mem.new_zeros(src.shape[0], mem.shape[-1]), []
            for t in range(tgt_in.shape[1]):
                state = self.cell(torch.cat([y[:, t], feed], -1), state)
                feed = self.attend(state[0][:, None], mem, keys, mask)[:, 0]
                feats.append(feed)
            features = torch.stack(feats, 1)
        else:
            outs, _ = self.decoder(y, (state[0][None], state[1][None]))
            features = self.attend(outs, mem, keys, mask)
        return self.out(features)

    def attend(self, q: Tensor, mem: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        scores = torch.bmm(q, keys.transpose(1, 2)).masked_fill(~mask[:, None], float("-inf"))
        context = torch.bmm(scores.softmax(-1), mem)
        return self.drop(torch.tanh(self.combine(torch.cat([context, q], -1))))


BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "lstmkit-feed": lambda s, t, h: Seq2Seq(s, t, hidden_size=h, dropout=0.1),
    "lstmkit-nofeed": lambda s, t, h: Seq2Seq(
        s, t, hidden_size=h, dropout=0.1, input_feeding=False
    ),
    "torch-feed": lambda s, t, h: PlainSeq2Seq(s, t, 64, h, True),
    "torch-nofeed": lambda s, t, h: PlainSeq2Seq(s, t, 64, h, False),
}


def time_steps(
    model: nn.Module, batches: list[tuple[Tensor, ...]]
) -> Callable[[int], tuple[float, float]]:
    """A function timing one training step on batch i: wall and process CPU seconds."""
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def run(i: int) -> float:
        src, lengths, tgt_in, tgt_out = batches[i]
        start, cpu = time.perf_counter(), time.process_time()
        logits = model(src, lengths, tgt_in)
        loss = F.cross_entropy(
            logits.flatten(0, 1), tgt_out.flatten(), ignore_index=0, label_smoothing=0.1
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return time.perf_counter() - start, time.process_time() - cpu

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=list(BUILDERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train, _, _ = g2p_split(load_cmudict())
    pairs = train.pairs()
    src = [tokenize(s, "char") for s, _ in pairs]
    tgt = [tokenize(t, "word") for _, t in pairs]
    sv, tv = Vocabulary.build(src), Vocabulary.build(tgt)
    loader = PairBatches([sv.encode(s) for s in src], [tv.encode(t) for t in tgt], args.batch_size)
    batches = [b for b, _ in zip(loader, range(args.batches))]
    words = sum(len(b[1]) for b in batches)
    models = {name: BUILDERS[name](len(sv), len(tv), args.hidden) for name in args.models}
    runners = {name: time_steps(model.train(), batches) for name, model in models.items()}
    totals = {name: [0.0, 0.0] for name in runners}
    for run in runners.values():
        run(0)  # warm-up
    for i in range(len(batches)):
        for name, run in runners.items():
            wall, cpu = run(i)
            totals[name][0] += wall
            totals[name][1] += cpu
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{len(batches)} batches of {args.batch_size} pairs, hidden {args.hidden}, "
        f"{args.threads} thread(s), load {load}"
    )
    n = len(batches)
    for name, (wall, cpu) in totals.items():
        print(
            f"{name:>13}: {1000 * wall / n:7.1f} ms/batch wall ({words / wall:5.0f} pairs/s), "
            f"{1000 * cpu / n:7.1f} ms process CPU ({words / cpu:5.0f} pairs/CPU-s)"
        )


if __name__ == "__main__":
    main()
