"""Timer and HTTP trigger functions: the app's front doors.

Each module defines a ``df.Blueprint`` that ``function_app.py`` registers. A trigger validates its
input, starts or queries orchestrations through the durable client, and answers fast; it never
does Business Central or Anaplan work inline. May import ``azure.functions``,
``azure.durable_functions`` and ``bc_anaplan``; never ``activities`` or ``orchestrators`` code
(orchestrations are started by name).
"""
