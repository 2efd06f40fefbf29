"""`python -m facegen`."""

from facegen.cli import main

main()
