"""Test support shared by every service's tests: real infrastructure fixtures (nats-server,
embedded PostgreSQL), an echo service, and helpers. Register the fixtures with
`pytest_plugins = ["linli_runtime.testing.fixtures"]`."""
