from linli_redemption.tables import metadata

from linli_runtime.migrations import run_env

run_env(metadata)
