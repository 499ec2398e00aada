"""Tagging readers on hand-made files with every oddity, writers, and scheme round trips."""

from __future__ import annotations

import lzma
import random

import pytest

from lstmkit.metrics.tagging import entity_spans
from lstmkit.tasks.tag.readers import (
    read_conll,
    read_conllu,
    read_tagged,
    read_text,
    sniff_format,
    write_conll,
)
from lstmkit.tasks.tag.schemes import convert, detect_scheme, spans_to_labels

CONLLU = """\
# newdoc id = doc1
# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = 2
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
1.1\tyou\tyou\tPRON\tPRP\t_\t_\t_\t0:nsubj\t_
2\there\there\tADV\tRB\t_\t1\tadvmod\t_\t_
"""  # no blank line at the end: the last sentence still counts


def write(tmp_path, name, text, compress=False):
    path = tmp_path / name
    if compress:
        path.write_bytes(lzma.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_conllu_skips_multiword_tokens_empty_nodes_and_comments(tmp_path):
    data = read_conllu(write(tmp_path, "a.conllu.xz", CONLLU, compress=True))
    assert data.words == [["I", "do", "n't", "know", "."], ["Go", "here"]]
    assert data.tags == [["PRON", "AUX", "PART", "VERB", "PUNCT"], ["VERB", "ADV"]]
    xpos = read_conllu(write(tmp_path, "a.conllu", CONLLU), column="xpos")
    assert xpos.tags[0] == ["PRP", "VBP", "RB", "VB", "."]
    assert read_conllu(tmp_path / "a.conllu", column=8).tags[1] == ["root", "advmod"]


def test_conllu_predictions_written_back_in_place(tmp_path):
    data = read_conllu(write(tmp_path, "a.conllu", CONLLU), labelled=False)
    assert not data.labelled
    out = write_conll(tmp_path / "out.conllu", data, [["X"] * 5, ["Y", "Z"]], column="upos")
    text = out.read_text()
    assert "2-3\tdon't\t_\t_" in text  # the multi-word token line is untouched
    assert "1.1\tyou\tyou\tPRON" in text  # so is the empty node
    assert "4\tknow\tknow\tX\tVB" in text and "2\there\there\tZ\tRB" in text
    assert read_conllu(out).tags == [["X"] * 5, ["Y", "Z"]]


@pytest.mark.parametrize(
    "text,line,message",
    [
        ("1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\n", 1, "has 10 tab-separated columns, this one has 9"),
        ("# c\n1\tI\tI\t_\tPRP\t_\t0\troot\t_\t_\n", 2, "word 'I' has no tag in column 4"),
        ("1\tI\tI\tX\tX\t_\t0\t_\t_\t_\nx\ty\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "is not a word number"),
        ("1-x\tI\t_\t_\t_\t_\t_\t_\t_\t_\n", 1, "malformed ID '1-x'"),
        ("1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\n", 1, "a sentence without any word line"),
    ],
)
def test_conllu_malformed_lines_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "bad.conllu", text)
    with pytest.raises(ValueError, match=f"bad.conllu:{line}: .*{message}"):
        read_conllu(path)


def test_readers_reject_missing_empty_and_unknown(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.conllu does not exist"):
        read_conllu(tmp_path / "nothing.conllu")
    with pytest.raises(ValueError, match="empty.conll holds no sentences"):
        read_conll(write(tmp_path, "empty.conll", "\n \n\t\n"))
    with pytest.raises(ValueError, match="unknown column 'lemma': give upos, xpos or a column"):
        read_conllu(write(tmp_path, "a.conllu", CONLLU), column="lemma")
    with pytest.raises(ValueError, match="column 11 does not exist"):
        read_conllu(tmp_path / "a.conllu", column=11)
    (tmp_path / "latin.conll").write_bytes(b"caf\xe9\tO\n")
    with pytest.raises(ValueError, match="latin.conll is not UTF-8 text"):
        read_conll(tmp_path / "latin.conll")


def test_conll_column_files(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
        "German JJ B-NP B-MISC\n\t\nPeter NNP B-NP B-PER\r\n"
    )
    path = write(tmp_path, "c.conll", text)
    data = read_conll(path)  # the last column by default, CRLF tolerated
    assert data.words == [["EU", "rejects", "German"], ["Peter"]]
    assert data.tags == [["B-ORG", "O", "B-MISC"], ["B-PER"]]
    assert read_conll(path, column=2).tags[0] == ["NNP", "VBZ", "JJ"]
    wnut = write(tmp_path, "w.conll", "@paul\tO\nEmpire State\tB-location\n\t\nok\tO\n")
    assert read_conll(wnut).words == [["@paul", "Empire State"], ["ok"]]  # tab separates
    with pytest.raises(ValueError, match=r"c2.conll:2: expected a token and a tag"):
        read_conll(write(tmp_path, "c2.conll", "a\tO\nlonely\n"))
    with pytest.raises(
        ValueError, match=r"c3.conll:2: 3 columns where the file's token lines have 2"
    ):
        read_conll(write(tmp_path, "c3.conll", "a\tO\nb\tX\tO\n"))


def test_plain_text_and_two_column_output(tmp_path):
    data = read_text(write(tmp_path, "t.txt", "Hello world !\n\n  Bye  \n"))
    assert data.words == [["Hello", "world", "!"], ["Bye"]]
    out = write_conll(tmp_path / "p.conll", data, [["A", "B", "C"], ["D"]])
    # every sentence ends with a blank line, the last too
    assert out.read_text() == "Hello\tA\nworld\tB\n!\tC\n\nBye\tD\n\n"
    assert read_conll(out).tags == [["A", "B", "C"], ["D"]]
    with pytest.raises(IsADirectoryError, match="is a directory; give a file name"):
        write_conll(tmp_path, data, [["A", "B", "C"], ["D"]])


def test_the_format_is_told_by_regular_columns(tmp_path):
    # CoNLL-2003 as distributed: space-separated columns, CRLF, -DOCSTART- lines
    spaced = "-DOCSTART- -X- -X- O\r\n\r\nEU NNP B-NP I-ORG\r\nrejects VBZ B-VP O\r\n\r\n"
    spaced += "Peter NNP B-NP I-PER\r\n"
    path = write(tmp_path, "eng.testb", spaced)
    assert sniff_format(path) == "conll"
    assert read_tagged(path).tags == [["I-ORG", "O"], ["I-PER"]]
    # a stray tab in a sentence does not make a text file a column file
    text = write(tmp_path, "t.txt", "Elle\tparle vite .\nIl dort .\n")
    assert sniff_format(text) == "text"
    assert read_tagged(text, labelled=False).words == [["Elle", "parle", "vite", "."],
                                                       ["Il", "dort", "."]]  # fmt: skip
    # sentences of equal lengths, a line each, are text too
    assert sniff_format(write(tmp_path, "e.txt", "a b\nc d\n")) == "text"
    with pytest.raises(ValueError, match="looks like plain text.*--format conll"):
        read_tagged(text)


def test_byte_order_marks_trailing_blanks_and_comment_lines(tmp_path):
    bom = write(tmp_path, "b.conllu", "\ufeff# text = Hi\n" + CONLLU.split("\n", 1)[1])
    assert read_conllu(bom).words == read_conllu(write(tmp_path, "a.conllu", CONLLU)).words
    assert read_text(write(tmp_path, "b.txt", "\ufeffLe chat\n")).words == [["Le", "chat"]]
    trailing = write(tmp_path, "t.conll", "EU \tB-ORG \t \nsays\tO  \n")
    assert read_conll(trailing).tags == [["B-ORG", "O"]]
    # GermEval: '#' comment lines of other columns skipped; CoNLL-2000's token '#' kept
    germeval = "#\thttp://x\t[2009]\n1\tEU\tB-ORG\tO\n2\tsagt\tO\tO\n"
    data = read_conll(write(tmp_path, "g.tsv", germeval), 3, word_column=2)
    assert data.words == [["EU", "sagt"]] and data.tags == [["B-ORG", "O"]]
    chunks = read_conll(write(tmp_path, "c.txt", "# # B-NP\n100 CD I-NP\n"))
    assert chunks.words == [["#", "100"]] and chunks.tags == [["B-NP", "I-NP"]]
    with pytest.raises(ValueError, match="column 0 does not exist: columns are numbered from 1"):
        read_conll(trailing, 0)
    with pytest.raises(ValueError, match="the token and the tag are both column 1"):
        read_conll(trailing, 1)
    with pytest.raises(ValueError, match="column 2 of CoNLL-U is the word's FORM, not a tag"):
        read_conllu(bom, 2)


def random_spans(rng: random.Random, length: int) -> list[tuple[str, int, int]]:
    spans, i = [], 0
    while i < length:
        if rng.random() < 0.4:
            last = min(length - 1, i + rng.randint(0, 3))
            spans.append((rng.choice(["PER", "LOC"]), i, last))
            i = last + 1
        else:
            i += rng.randint(1, 2)
    return spans


@pytest.mark.parametrize("scheme", ["iob1", "bio", "bioes"])
def test_schemes_round_trip_through_spans(scheme):
    rng = random.Random(hash(scheme) % 1000)
    for _ in range(300):
        length = rng.randint(1, 12)
        spans = random_spans(rng, length)  # adjacent chunks of one type included
        labels = spans_to_labels(spans, length, scheme)
        assert entity_spans(labels) == spans
        for other in ("iob1", "bio", "bioes"):
            assert convert(convert(labels, other), scheme) == labels


def test_scheme_labels_and_detection():
    spans = [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4)]
    assert spans_to_labels(spans, 5, "iob1") == ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert spans_to_labels(spans, 5, "bio") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert spans_to_labels(spans, 5, "bioes") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]
    assert detect_scheme([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]) == "iob1"
    assert detect_scheme([["B-PER", "I-PER", "O"], ["O", "B-LOC"]]) == "bio"
    assert detect_scheme([["S-PER", "O"]]) == "bioes"
    assert detect_scheme([["NOUN", "VERB"]]) == "none"
    assert detect_scheme([["O", "O"]]) == "none"
    assert convert(["NOUN"], "none") == ["NOUN"]
    with pytest.raises(ValueError, match="scheme must be one of"):
        spans_to_labels([], 1, "bilou")


def test_embedded_datasets_and_the_shared_task_scores():
    from seqeval.metrics import f1_score

    from lstmkit.metrics.tagging import entity_report
    from lstmkit.tasks.tag import SYSTEMS, load_dataset, load_submission

    sizes = {"train": (12544, 204577), "dev": (2001, 25147), "test": (2077, 25094)}
    for split, (sentences, words) in sizes.items():
        data = load_dataset("ud_english_ewt", split)
        assert (len(data), sum(map(len, data.words))) == (sentences, words)
    assert len({t for s in data.tags for t in s}) == 17  # the UPOS tag set
    assert [len(load_dataset("wnut17", s)) for s in ("train", "dev", "test")] == [3394, 1009, 1287]
    gold = load_dataset("wnut17", "test").tags
    published = {"uh_ritual": 41.86, "spinningbytes": 40.78, "drexel_cci": 26.30}
    for system in SYSTEMS:
        predicted = load_submission(system)
        ours = entity_report(gold, predicted)["f1"]
        assert ours == pytest.approx(f1_score(gold, predicted))
        if system in published:
            assert round(100 * ours, 2) == published[system]
