"""Progress off a terminal: plain lines a log can hold, none when hidden."""

from __future__ import annotations

from flanlab import progress as P


def test_off_a_terminal_a_bar_prints_one_line_when_it_finishes(capsys):
    with P.progress("scoring", 3) as bar:
        bar.advance(2)
        bar.advance(note="last")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scoring: 3/3 in ") and lines[0].endswith("(last)")


def test_long_stages_print_a_periodic_line_with_an_eta(capsys, monkeypatch):
    monkeypatch.setattr(P, "PLAIN_EVERY_S", 0.0)
    with P.ProgressDisplay() as display:
        update = display.stage_callback({"rows": "rendering rows"})
        update("rows", 1, 4)
        update("rows", 4, 4)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("rendering rows: 1/4") and "ETA" in lines[0]
    assert lines[1].startswith("rendering rows: 4/4")


def test_hidden_progress_prints_nothing_and_track_yields_every_item(capsys):
    assert list(P.track(range(5), "quiet", 5, show=False)) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""
