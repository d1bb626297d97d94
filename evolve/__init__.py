"""See README.md and docs/ARCHITECTURE.md."""
import proxies.xla as _xla  # noqa: F401  (sets the XLA CPU flag before anything imports JAX: proxies/xla.py)
