"""Faithful local simulators of Business Central, Entra ID, Key Vault and Anaplan.

Everything the connector claims is verified against these simulators, so they are built from the
published API facts (``../shared/docs/reference/``), strictly, and never from the connector's own
code: this package imports nothing from ``bc_anaplan``, ``function_app``, ``triggers``,
``orchestrators``, ``activities``, ``entities`` or ``local_host``, so the two sides cannot share a
misunderstanding. Start everything with ``python -m sandbox serve``; see ``sandbox/README.md``.
"""
