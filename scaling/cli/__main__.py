"""``python -m scaling.cli``: the same command as the ``scaling`` script."""

from scaling.cli import main

main()
