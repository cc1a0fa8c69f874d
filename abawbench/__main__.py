"""``python -m abawbench``: the same command line as ``abawbench``."""

from abawbench.cli import main

if __name__ == "__main__":
    main(prog_name="abawbench")
