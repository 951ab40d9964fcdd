"""Allow ``python -m autodynamics_cli``."""

from autodynamics_cli.cli import main

main()
