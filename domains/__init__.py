"""See README.md and docs/ARCHITECTURE.md."""
import proxies  # noqa: F401  (sets the XLA CPU flag before anything imports JAX: proxies/xla.py)
