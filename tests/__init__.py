"""The test suite (``make test``): every claim of the README checked through real HTTP against the
sandbox and real Azurite, never against mocks of the services.

One folder per part of the project (``core``, ``sandbox``, ``local_host``, ``e2e``, ``reliability``,
``ops``, ``infra``, ``bench``), shared helpers in ``support``; the layout, settings and Azurite
script checks sit at the top. Tests may import anything of the project, but the only way they
reach a simulator is the process ``python -m sandbox serve`` and its JSON line
(``tests.support.processes``), so a test never shares state with the sandbox's code.
"""
