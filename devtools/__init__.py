"""Developer tooling that is not part of the app: starting Azurite for tests, the demo and CI.

May import only the standard library. Nothing in the app, the sandbox or the local host imports it
except tests and the demo scripts.
"""
