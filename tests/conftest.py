pytest_plugins = ["linli_runtime.testing.fixtures"]
