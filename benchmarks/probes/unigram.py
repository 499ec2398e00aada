"""The word-level language model's baseline in README.md: a unigram model, add-one smoothed.

Run `python benchmarks/probes/unigram.py RUN/tokenizer.json` with the tokenizer that
`lstmkit generate --level word --min-freq 3 --out RUN` saved; it scores the same held-out
plays with the same tokens and prints the vocabulary, the <unk> share and the perplexity.
"""

from __future__ import annotations

import collections
import math
import sys

from lstmkit.data.text import Tokenizer
from lstmkit.tasks.generate.task import Corpus

if __name__ == "__main__":
    tok = Tokenizer.load(sys.argv[1])
    corpus = Corpus.shakespeare()
    train, val = tok.encode(corpus.train), tok.encode(corpus.val)
    counts = collections.Counter(train)
    vocab, n = len(tok), len(train)
    nll = -sum(math.log((counts[i] + 1) / (n + vocab)) for i in val) / len(val)
    unk = val.count(tok.unk_id) / len(val)
    print(f"vocabulary {vocab}, held-out tokens {len(val)}, <unk> {unk:.3f}, "
          f"unigram perplexity {math.exp(nll):.1f}")  # fmt: skip
