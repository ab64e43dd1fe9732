"""The reliability suite (``README.md`` here): nothing lost or doubled under injected faults,
killed hosts and hostile input, judged by what the services hold.

It may import ``bc_anaplan``, ``local_host``, ``devtools``, ``sandbox.common.tls`` (the hostile
proxy's certificate, nothing else of the simulators) and ``tests.support``.
"""
