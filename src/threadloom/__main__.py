"""``python -m threadloom``: the same command line as the ``threadloom`` script."""

from threadloom.cli import main

if __name__ == "__main__":
    main()
