"""The ``torframes`` command line."""
