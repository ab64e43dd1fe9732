"""The connector's core: everything it does, with no Azure Functions framework in sight.

Configuration, secrets, the one resilient HTTP layer, the Business Central and Anaplan clients,
dimension mapping, aggregation, validation, and the audit, cursor and mapping stores live here as
plain, typed Python that tests can call directly. It may import the standard library and the
runtime packages in requirements.txt, but never ``azure.functions`` or ``azure.durable_functions``:
triggers, orchestrators, activities and entities adapt this core to the Functions runtime, not the
other way round.
"""
