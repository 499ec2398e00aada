"""LinearChainCRF against brute-force enumeration of every tag path; constraints; gradcheck."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from lstmkit.nn.crf import IMPOSSIBLE, LinearChainCRF, transition_constraints


def brute_score(start, trans, end, emissions, path) -> float:
    """s(y) written out term by term for one sequence (emissions (L, K))."""
    total = float(start[path[0]]) + float(end[path[-1]])
    for t, tag in enumerate(path):
        total += float(emissions[t, tag])
        if t:
            total += float(trans[path[t - 1], tag])
    return total


def all_paths(k: int, length: int, legal=lambda path: True):
    return [p for p in itertools.product(range(k), repeat=length) if legal(p)]


def random_crf(k: int, seed: int, allowed=None) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(k, allowed).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 1.0)
    return crf


def padded_batch(k: int, lengths: list[int], seed: int):
    gen = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(lengths), max(lengths), k, generator=gen, dtype=torch.float64)
    for b, n in enumerate(lengths):
        emissions[b, n:] = 50.0  # garbage past the end must not matter
    return emissions, torch.tensor(lengths)


@pytest.mark.parametrize("k,lengths,seed", [(2, [1, 3, 5], 0), (3, [4, 1, 2], 1), (4, [3, 3], 2)])
def test_log_partition_and_path_score_equal_brute_force(k, lengths, seed):
    crf = random_crf(k, seed)
    emissions, lens = padded_batch(k, lengths, seed + 10)
    start, trans, end = (t.detach() for t in crf.scores())
    log_z = crf.log_partition(emissions, lens)
    gen = torch.Generator().manual_seed(seed)
    tags = torch.randint(0, k, (len(lengths), max(lengths)), generator=gen)
    gold = crf.path_score(emissions, tags, lens)
    for b, n in enumerate(lengths):
        scores = [brute_score(start, trans, end, emissions[b], p) for p in all_paths(k, n)]
        expected = math.log(sum(math.exp(s) for s in scores))
        assert log_z[b].item() == pytest.approx(expected, abs=1e-10)
        path = tags[b, :n].tolist()
        assert gold[b].item() == pytest.approx(brute_score(start, trans, end, emissions[b], path))
    nll = crf.nll(emissions, tags, lens, reduction="none")
    torch.testing.assert_close(nll, log_z - gold)
    assert (nll > 0).all()  # -log p of one path among several


@pytest.mark.parametrize("k,lengths,seed", [(3, [5, 1, 3, 4], 3), (2, [6, 2], 4), (5, [3], 5)])
def test_viterbi_equals_brute_force_argmax(k, lengths, seed):
    crf = random_crf(k, seed)
    emissions, lens = padded_batch(k, lengths, seed + 20)
    start, trans, end = (t.detach() for t in crf.scores())
    tags, scores = crf.decode(emissions, lens, padding_value=-1)
    for b, n in enumerate(lengths):
        best = max(all_paths(k, n), key=lambda p: brute_score(start, trans, end, emissions[b], p))
        assert tags[b, :n].tolist() == list(best)
        assert (tags[b, n:] == -1).all()
        assert scores[b].item() == pytest.approx(brute_score(start, trans, end, emissions[b], best))


def test_padding_and_batch_composition_change_nothing():
    crf = random_crf(3, 6)
    emissions, lens = padded_batch(3, [5, 2, 4], 7)
    tags = torch.randint(0, 3, (3, 5))
    batched = crf.nll(emissions, tags, lens, reduction="none")
    best, _ = crf.decode(emissions, lens)
    for b, n in enumerate(lens.tolist()):
        alone = crf.nll(emissions[b : b + 1, :n], tags[b : b + 1, :n], lens[b : b + 1], "none")
        torch.testing.assert_close(batched[b : b + 1], alone)
        assert (
            best[b, :n].tolist()
            == crf.decode(emissions[b : b + 1, :n], lens[b : b + 1])[0][0].tolist()
        )


def test_gradcheck_float64():
    crf = random_crf(3, 8)
    emissions, lens = padded_batch(3, [4, 2, 3], 9)
    emissions.requires_grad_(True)
    tags = torch.randint(0, 3, (3, 4))
    names = ("start", "transitions", "end")

    def nll(e, *params):  # the parameters too, so gradcheck perturbs them
        return torch.func.functional_call(crf, dict(zip(names, params)), (e, tags, lens))

    params = [getattr(crf, n).detach().clone().requires_grad_(True) for n in names]
    assert torch.autograd.gradcheck(nll, (emissions, *params))
    # The gradient of log Z w.r.t. the emissions is the tag marginals: rows sum to 1.
    grad = torch.autograd.grad(crf.log_partition(emissions, lens).sum(), emissions)[0]
    for b, n in enumerate(lens.tolist()):
        torch.testing.assert_close(grad[b, :n].sum(-1), torch.ones(n, dtype=torch.float64))
        assert (grad[b, n:] == 0).all()


def legal_bio(names, path) -> bool:
    prev = "O"
    for i in path:
        tag = names[i]
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


def legal_bioes(names, path) -> bool:
    prev = "O"
    for i in path:
        tag = names[i]
        open_chunk = prev[:1] in ("B", "I")
        if open_chunk != (tag[:1] in ("I", "E")) or (open_chunk and prev[2:] != tag[2:]):
            return False
        prev = tag
    return prev[:1] not in ("B", "I")


SCHEMES = {
    "bio": (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], legal_bio),
    "bioes": (["O", "B-A", "I-A", "E-A", "S-A", "B-B", "E-B", "S-B", "I-B"], legal_bioes),
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_constraints_never_decode_an_illegal_path(scheme):
    names, legal = SCHEMES[scheme]
    allowed = transition_constraints(names, scheme)
    crf = random_crf(len(names), 10, allowed)
    gen = torch.Generator().manual_seed(11)
    # Emissions that favour illegal tags (I-/E- everywhere) push Viterbi hardest.
    emissions = torch.randn(64, 7, len(names), generator=gen, dtype=torch.float64) * 4
    lengths = torch.randint(1, 8, (64,), generator=gen)
    tags, _ = crf.decode(emissions, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert legal(names, tags[b, :n].tolist()), [names[i] for i in tags[b, :n]]


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_constrained_log_partition_sums_legal_paths_only(scheme):
    names, legal = SCHEMES[scheme]
    crf = random_crf(len(names), 12, transition_constraints(names, scheme))
    emissions, lens = padded_batch(len(names), [3, 1], 13)
    start, trans, end = (t.detach() for t in crf.scores())
    log_z = crf.log_partition(emissions, lens)
    for b, n in enumerate(lens.tolist()):
        paths = all_paths(len(names), n, lambda p: legal(names, p))
        expected = math.log(
            sum(math.exp(brute_score(start, trans, end, emissions[b], p)) for p in paths)
        )
        assert log_z[b].item() == pytest.approx(expected, abs=1e-9)


def test_constraint_tables():
    start, trans, end = transition_constraints(["O", "B-X", "I-X", "I-Y"], "bio")
    assert start.tolist() == [True, True, False, False]
    assert trans[1, 2] and trans[2, 2] and not trans[0, 2] and not trans[1, 3]
    assert end.all()
    start, trans, _ = transition_constraints(["O", "B-X", "I-X"], "iob1")
    assert start.tolist() == [True, False, True]  # B- only separates adjacent chunks
    assert trans[2, 1] and not trans[0, 1] and trans[0, 2]
    _, trans, end = transition_constraints(["O", "B-X", "E-X", "S-X", "I-X"], "bioes")
    assert end.tolist() == [True, False, True, True, False]
    assert trans[1, 2] and trans[1, 4] and not trans[1, 0] and not trans[0, 4]


def test_bad_input_messages():
    crf = LinearChainCRF(3)
    with pytest.raises(ValueError, match=r"emissions must have shape \(B, T, 3\)"):
        crf.log_partition(torch.randn(2, 4, 2), torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="lengths has 1 entries but the batch has 2"):
        crf.log_partition(torch.randn(2, 4, 3), torch.tensor([4]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 4\]"):
        crf.decode(torch.randn(2, 4, 3), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"tags must lie in \[0, 3\)"):
        crf.nll(torch.randn(1, 2, 3), torch.tensor([[0, 3]]), torch.tensor([2]))
    with pytest.raises(ValueError, match="tag 'PER' is not 'O' or B/I-TYPE"):
        transition_constraints(["O", "PER"], "bio")
    with pytest.raises(ValueError, match="scheme must be one of"):
        transition_constraints(["O"], "bilou")
    assert IMPOSSIBLE < -1e3
