pytest_plugins = ["linli_runtime.testing.fixtures", "linli_runtime.testing.platform"]
