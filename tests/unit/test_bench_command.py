"""The Command line of a national section repeats the options that shaped it."""

from __future__ import annotations

import argparse

from bench.run import CLIENTS, WEB_SUBMISSIONS, _flags


def test_the_command_line_names_web_submissions_and_clients_when_given() -> None:
    given = argparse.Namespace(web_submissions=0, clients=20)
    assert _flags(given) == " --web-submissions 0 --clients 20"


def test_the_command_line_leaves_out_the_defaults() -> None:
    assert _flags(argparse.Namespace(web_submissions=WEB_SUBMISSIONS, clients=CLIENTS)) == ""
