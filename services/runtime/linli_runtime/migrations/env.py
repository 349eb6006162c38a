from linli_runtime.events.tables import metadata
from linli_runtime.migrations import run_env

run_env(metadata)
