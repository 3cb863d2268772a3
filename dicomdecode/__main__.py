"""`python -m dicomdecode`: the command-line tool."""

from dicomdecode.apps.cli import run

run()
