"""Flags on the command line: no abbreviations, unknown flags named, one line and exit 2."""

import pytest

from lstmkit.cli import main


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["forecast", "--horizn", "5"], "unknown option --horizn; did you mean --horizon?"),
        (["classify", "--epoch", "1"], "unknown option --epoch; did you mean --epochs?"),
        (["forecast", "--horizon=5", "--hidden", "4"], "unknown option --hidden"),
        (["--debugx", "forecast"], "unknown option --debugx; did you mean --debug?"),
        (["bench", "speed", "--budgt", "1"], "unknown option --budgt; did you mean --budget?"),
        (["forecast", "--nonsense-flag=3"], "unknown option --nonsense-flag (see"),
    ],
)
def test_unknown_or_abbreviated_flags_are_named(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert named in err


def test_exact_flags_and_equals_form_still_parse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", "--horizon=5", "--threads", "1", "--help"])
    assert exit_info.value.code == 0
    assert "--horizon" in capsys.readouterr().out
