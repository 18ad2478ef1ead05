"""What every command that reads the data folder starts with."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from ksef_local.app import create_app, database_problem
from ksef_local.errors import UserError
from ksef_local.services import Services


def open_app(home: Path) -> tuple[Flask, Services]:
    """The app of a data folder and its services; UserError (cli.main prints it, exit code 2) when the database
    cannot be used: the same Polish explanation the damaged-database page gives."""
    app = create_app(home)
    problem = database_problem(app)
    if problem:
        raise UserError(problem)
    return app, app.extensions["ksef_local"]
