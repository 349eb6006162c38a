from linli_identity.tables import IdentityTable

from linli_runtime.migrations import run_env

run_env(IdentityTable.metadata)
