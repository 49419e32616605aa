"""``python -m scaling.cli``: the same command as the ``scaling`` script."""

from scaling.cli import main

if __name__ == "__main__":
    main()
