"""See README.md and docs/ARCHITECTURE.md."""
from proxies.xla import with_cpu_flag as _with_cpu_flag

_with_cpu_flag()  # before anything imports JAX (proxies/xla.py says why)
