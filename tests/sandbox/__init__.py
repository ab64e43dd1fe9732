"""Tests of the simulators (``sandbox``): each behaviour the issues list for BC, Entra ID, Key
Vault and Anaplan, through real HTTP with httpx, MSAL, azure-identity and azure-keyvault-secrets.

They may import ``sandbox`` (some of its parts are unit-tested here) and ``tests.support``; not
``bc_anaplan``, so that the simulators are checked against the reference, not against the
connector's understanding of it. The one exception, ``test_connector_env.py``, checks the
sandbox's promise to the connector (``connector_env``) and so reads the connector's settings.
"""
