from linli_notification.tables import metadata

from linli_runtime.migrations import run_env

# The service's revisions were `nf0001`, `nf0002` until they took the `nt` prefix (one prefix
# per service, none shared with the runtime's `rt`): a database made before then stores the
# old id, rewritten here before upgrading.
RENAMED = {"nf0001": "nt0001", "nf0002": "nt0002"}

run_env(metadata, renamed=RENAMED)
