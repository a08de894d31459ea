"""The swarm lab: many seeders on 127.0.0.x, real clients, a tracker, a private DHT.

Test scaffolding for issue 12; never imported by the runtime package.
"""
