"""Allow ``python -m autodynamics_cli``."""

from autodynamics_cli.cli.app import main

main()
