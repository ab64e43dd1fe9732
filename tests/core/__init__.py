"""Tests of the framework-free core (``bc_anaplan``): configuration, secrets, redaction, the HTTP
layer, the state stores and the domain rules, each against the sandbox over HTTPS and Azurite
where it talks to a service.

They may import ``bc_anaplan`` and ``tests.support``, never the Functions layers (``triggers``,
``orchestrators``, ``activities``, ``function_app``) except to check, in a subprocess, what
importing the app does.
"""
