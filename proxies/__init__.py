"""See README.md and docs/ARCHITECTURE.md."""
import os as _os

# On multi-core CPUs XLA's concurrency-optimised scheduler can deadlock vmapped
# training loops in block_until_ready; it must be off before JAX initialises.
_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if _FLAG not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
