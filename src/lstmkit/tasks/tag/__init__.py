"""Sequence tagging: a BiLSTM(-CRF) tagger for parts of speech and named entities.

`Tagger` (config `TagConfig`) trains on `TaggedSentences` read by `read_conllu` (CoNLL-U
treebanks), `read_conll` (column files, IOB1/BIO/BIOES) or `read_text`; `StringEmbedder`
adds contextual string embeddings from lstmkit's own character LMs; `load_dataset` gives
the embedded UD English EWT and WNUT 2017 splits.
"""

from .config import TagConfig
from .datasets import DATASETS, SYSTEMS, load_dataset, load_raw_text, load_submission
from .readers import TaggedSentences, read_conll, read_conllu, read_text, write_conll
from .schemes import convert, detect_scheme
from .strings import LMSettings, StringEmbedder
from .task import Tagger

__all__ = [
    "DATASETS",
    "SYSTEMS",
    "LMSettings",
    "StringEmbedder",
    "TagConfig",
    "TaggedSentences",
    "Tagger",
    "convert",
    "detect_scheme",
    "load_dataset",
    "load_raw_text",
    "load_submission",
    "read_conll",
    "read_conllu",
    "read_text",
    "write_conll",
]
