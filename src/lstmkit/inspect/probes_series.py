"""Probes of the tasks that read numbers or whole sequences: forecast (one series or a panel),
classify, reproduce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lstmkit.inspect.probe import (
    Probe,
    Target,
    cli_reader,
    embedding_target,
    need_input,
    pad,
    run_options,
)

__all__ = ["probe_classify", "probe_forecast", "probe_forecast_panel", "probe_reproduce"]


def probe_forecast(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The first ensemble member on the run's validation windows (the last windows of the
    training part, as `Forecaster.fit` held them out), or on the last window of ``input_file``;
    attributions of its first forecast step of the first target."""
    from lstmkit.tasks.forecast import Forecaster
    from lstmkit.tasks.forecast.data import interpolate
    from lstmkit.tasks.forecast.task import _split_windows

    fc = Forecaster.load(run)
    prep, data, horizon = fc.prep, fc.data, fc.config.horizon
    if input_file is not None:
        series = fc._series(Path(input_file), rows_after=0)
        x, _ = prep.features(interpolate(series.values), series.missing)
        windows = prep.last_window(x, len(x) - 1)
        source = f"the last {prep.lookback}-step window of {input_file}"
    else:
        n_train = len(data.values) - horizon
        x, a = prep.features(interpolate(data.values[:n_train]), data.missing[:n_train])
        _, ends = _split_windows(prep.first_end, n_train - horizon - 1, horizon)
        if len(ends):
            windows = prep.windows(x, a, ends[-limit:])[0]
            source = f"the run's last {len(windows)} validation windows ({prep.lookback} steps)"
        else:
            windows = prep.last_window(x, n_train - 1)
            source = "the window before the test part (the run has no validation windows)"
    inputs = torch.from_numpy(np.ascontiguousarray(windows[-limit:]))
    model = fc.models[0]
    names = list(data.columns) + [f"{data.columns[i]} missing" for i in prep.indicators]
    target = Target(
        inputs, lambda v: model(v)[:, 0, 0],
        f"the forecast of {data.targets[0]!r} one step ahead (standardised change)",
        names, True, "zeros (each feature at its training mean; targets at the last level)",
    )  # fmt: skip
    lengths = np.full(len(inputs), inputs.shape[1])
    if len(fc.models) > 1:
        source += f"; ensemble member 0 of {len(fc.models)}"
    return Probe("forecast", model, lambda: model(inputs), lengths, source, target=target)


def _classify_data(run: Path, clf, input_file: Path | None):
    """(data, description): ``input_file`` read as the run reads CSVs, or the run's
    validation part (its test part when it trained without one)."""
    if input_file is not None:
        return clf.read_csv(input_file, labelled=False), str(input_file)
    from lstmkit.tasks.classify.inputs import validation_split

    args = run_options(run)
    if args is None:
        raise need_input(run, "classify", "a CSV in the run's columns")
    train, test = cli_reader("lstmkit.tasks.classify.cli", "load_data", "_load")(args, clf)
    share = clf.config.val_fraction
    if not share:
        return test, "the run's test part (it trained without a validation part)"
    _, val = validation_split(clf._label_ids(train.labels), share, clf.config.seed)
    return _subset(train, val), f"the run's validation part ({share:g} of train)"


def _subset(data, index: list[int]):
    from lstmkit.tasks.classify import LabelledSequences, LabelledTexts

    labels = [data.labels[i] for i in index]
    if isinstance(data, LabelledTexts):
        return LabelledTexts([data.texts[i] for i in index], labels)
    return LabelledSequences([data.seqs[i] for i in index], labels, data.features)


def probe_classify(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The first member on validation sequences or texts; attributions of the logit of the
    class it predicts, over the standardised features (numeric) or the token embeddings."""
    from lstmkit.tasks.classify import Classifier

    clf = Classifier.load(run)
    data, source = _classify_data(run, clf, input_file)
    seqs = clf._encode(data)[:limit]
    x, lengths = pad(seqs)
    model = clf.members[0]
    with torch.no_grad():
        chosen = model(x, lengths).argmax(-1)
    what = "the logit of the class predicted"
    rows = torch.arange(len(seqs))
    tokens, char_level = None, False
    if clf.input_kind == "text":
        tok = clf.tokenizer
        texts = data.texts[:limit]
        tokens = [_shown(tok, text, len(s)) for text, s in zip(texts, seqs)]
        char_level = tok.level == "char"
        target = embedding_target(
            model.encoder.embedding, x, lambda: model(x, lengths)[rows, chosen], what
        )
    else:
        names = clf.features or [f"feature {j}" for j in range(x.shape[-1])]
        if clf.config.deltas:
            names = list(names) + [f"change of {n}" for n in names]
        target = Target(
            x, lambda v: model(v, lengths)[rows, chosen], what, list(names), True,
            "zeros (each feature at its training mean)",
        )  # fmt: skip
    if len(clf.members) > 1:
        source += f"; ensemble member 0 of {len(clf.members)}"
    return Probe(
        "classify", model, lambda: model(x, lengths), lengths.numpy(), source,
        tokens, char_level, target,
    )  # fmt: skip


def _shown(tokenizer, text: str, length: int) -> list[str]:
    """The tokens of ``text`` as the model reads them (an empty text reads as one <unk>)."""
    pieces = tokenizer.split(text)
    return pieces[:length] if pieces else ["<unk>"]


def probe_reproduce(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The network on the experiment's fixed test sequences (generated, never trained on);
    attributions of its output at each sequence's end (the predicted class's score)."""
    from lstmkit.tasks.reproduce import Reproduction

    if input_file is not None:
        raise ValueError(
            "a reproduce run generates its own sequences (the experiment's test set); "
            "run `lstmkit inspect RUN` without --input"
        )
    rep = Reproduction.load(run)
    test = rep.config.spec().test_set().subset(slice(0, limit))
    net, x, lengths = rep.net, test.inputs, test.lengths
    rows = torch.arange(len(x))
    with torch.no_grad():
        out = net(x, lengths)
    if out.dim() == 3:
        out = out[rows, lengths - 1]  # per-step outputs: the last valid step's
    chosen = out.argmax(-1)

    def f(v: torch.Tensor) -> torch.Tensor:
        y = net(v, lengths)
        y = y[rows, lengths - 1] if y.dim() == 3 else y
        return y[rows, chosen]

    what = "the output at the sequence's end" + (" (top class)" if out.shape[-1] > 1 else "")
    names = [f"input {j}" for j in range(x.shape[-1])]
    target = Target(x, f, what, names, True, "zeros (no symbol, no value)")
    source = f"{len(x)} sequences of the {rep.config.experiment} experiment's test set"
    return Probe("reproduce", net, lambda: net(x, lengths), lengths.numpy(), source, target=target)


def probe_forecast_panel(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The first seasonal group's global model (its first ensemble member) on each series'
    last window before its test part; attributions of the median forecast one step ahead
    (quantile model; DeepAR samples its forecasts, so it gets none)."""
    from lstmkit.tasks.forecast import kinds
    from lstmkit.tasks.forecast.panel_task import PanelForecaster

    if input_file is not None:
        raise ValueError(
            "a panel run is inspected on its own series' windows; run `lstmkit inspect RUN` "
            "without --input"
        )
    pf = PanelForecaster.load(run)
    group, cfg = pf.groups[0], pf.config
    by_id = {s.id: s for s in pf.panel.series}
    series = [by_id[i] for i in group.ids]  # the order the group's scales are kept in
    win = group.windows(series, [s.n_train for s in series])
    x, _, _, _, rows, future = (part[:limit] for part in win.last())
    static = group.static(series)
    net = group.nets[0]
    inputs = torch.from_numpy(np.ascontiguousarray(x))
    source = (f"the window before the test part of {len(inputs)} series of group 1 of "
              f"{len(pf.groups)}; ensemble member 0 of {len(group.nets)}")  # fmt: skip
    target = None
    if cfg.model != "deepar":
        rt, st = torch.from_numpy(rows), torch.from_numpy(static[rows])
        median = int(np.argmin(np.abs(np.asarray(cfg.levels) - 0.5)))
        names = [f"feature {j}" for j in range(inputs.shape[-1])]
        target = Target(
            inputs, lambda v: net(v, rt, st)[:, 0, median],
            "the median forecast one step ahead (relative to the window's level)", names, True,
            "zeros (every input at the window's level)",
        )  # fmt: skip
    lengths = np.full(len(inputs), inputs.shape[1])

    def forward() -> object:
        return kinds.forecast(cfg, net, x, future, rows, static, 0)

    return Probe("forecast-panel", net, forward, lengths, source, target=target)
