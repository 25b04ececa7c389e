"""The chatservice test suite: run it with ``python -m twisted.trial tests``."""
