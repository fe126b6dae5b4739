"""soldout: direct-to-fan product launches that sell a limited batch without overselling.

The public surface is the HTTP API (`soldout serve`) and the CLI; the modules below are
organised as the architecture: `domain` (pure rules), `engine` (claim hot path), `store`
(persistence ports and adapters), `services` (use cases), `api` (HTTP entry point).
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
