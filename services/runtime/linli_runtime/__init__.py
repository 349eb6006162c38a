"""Linli's shared runtime: the one place every service gets its server, database, event bus,
authentication, logging and metrics from. Services import from here; never from each other."""
