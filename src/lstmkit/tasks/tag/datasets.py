"""The embedded tagging datasets: UD English EWT (parts of speech) and WNUT 2017 (entities)."""

from __future__ import annotations

import lzma

from lstmkit.data.registry import dataset_file

from .readers import TaggedSentences, read_conll, read_conllu, read_lines

__all__ = ["DATASETS", "SYSTEMS", "load_dataset", "load_raw_text", "load_submission"]

DATASETS = ("ud_english_ewt", "wnut17")
SPLITS = ("train", "dev", "test")
# The seven WNUT 2017 shared-task systems (Derczynski et al. 2017), file -> team.
SYSTEMS = {
    "uh_ritual": "UH-RiTUAL", "spinningbytes": "SpinningBytes", "sjtu_adapt": "SJTU-Adapt",
    "arcada": "Arcada", "flytxt": "FLYTXT", "mic-cis": "MIC-CIS", "drexel_cci": "Drexel-CCI",
}  # fmt: skip


def load_dataset(name: str, split: str, column: str = "upos") -> TaggedSentences:
    """One split ("train", "dev", "test") of an embedded dataset.

    Args:
        name: "ud_english_ewt" (CoNLL-U; ``column`` "upos" or "xpos") or "wnut17" (BIO).
        split: the official split.
        column: the EWT tag column. Default "upos".
    """
    if name not in DATASETS:
        raise ValueError(f"no embedded tagging dataset {name!r}; choose from {DATASETS}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if name == "ud_english_ewt":
        return read_conllu(dataset_file(f"ud_english_ewt/en_ewt-ud-{split}.conllu.xz"), column)
    return read_conll(dataset_file(f"wnut17/{split}.conll.xz"))


def load_raw_text(name: str = "wnut17") -> str:
    """The unlabelled in-domain text shipped for LM pretraining (no dev or test sentence)."""
    if name != "wnut17":
        raise ValueError(f"only wnut17 ships raw text for LM pretraining, not {name!r}")
    path = dataset_file("wnut17/raw_text.txt.xz")
    with lzma.open(path, "rt", encoding="utf-8", newline="\n") as handle:
        return handle.read()


def load_submission(system: str) -> list[list[str]]:
    """A shared-task system's predicted tags on the WNUT 2017 test set, sentence by sentence."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown WNUT 2017 system {system!r}; choose from {sorted(SYSTEMS)}")
    sentences: list[list[str]] = [[]]
    for line in read_lines(dataset_file(f"wnut17/submissions/{system}.tags.xz")):
        if line.strip():
            sentences[-1].append(line.strip())
        elif sentences[-1]:
            sentences.append([])
    return [s for s in sentences if s]
