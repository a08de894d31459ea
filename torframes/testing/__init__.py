"""Helpers for tests, demos and notebooks: everything stays on 127.0.0.1.

* :class:`LocalSwarm` — a libtorrent seeder on loopback that makes torrents
  from given files (v1, v2 or hybrid) and reports exactly what it uploaded.
"""

from torframes.testing.swarm import LocalSwarm, Seed

__all__ = ["LocalSwarm", "Seed"]
