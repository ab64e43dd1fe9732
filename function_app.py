"""The Azure Functions entry point: create the Durable Functions app and register blueprints.

Nothing else belongs here. Each trigger, orchestrator, activity and entity lives in its own
package and registers itself on a ``df.Blueprint``; this module only collects them.
"""

import azure.durable_functions as df
import azure.functions as func

from triggers import health

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (health.bp,):
    app.register_functions(blueprint)
