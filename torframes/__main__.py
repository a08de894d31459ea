"""``python -m torframes``: the same as the ``torframes`` command."""

from torframes.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
