"""`python -m dicomdecode`: the command-line tool."""

from dicomdecode.apps.cli import main

raise SystemExit(main())
