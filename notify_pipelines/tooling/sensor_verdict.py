"""`notify-pipelines sensor-verdict NAME`: evaluate one sensor now, on the stack's instance and resources, and print
its verdict readably: what it skipped, or the failure's message (which names what is stuck and what to do), without
the stack trace around it that `dagster sensor preview` prints.

Like the preview it starts from no cursor, so it looks at what the sensor would look at from its saved state (see
monitoring/sensor_state.py); the running sensor's own next tick is not affected.
"""

from __future__ import annotations

import dagster as dg

from notify_pipelines.core.settings import ConfigError, is_set
from notify_pipelines.orchestration.one_line_errors import one_line


def verdict(name: str) -> str:
    from notify_pipelines.definitions import defs

    sensors = {s.name: s for s in defs.sensors or []}
    if name not in sensors:
        raise ConfigError(f"no sensor named {name!r}; the sensors are: {', '.join(sorted(sensors))}")
    sensor = sensors[name]
    # The stack's instance (DAGSTER_HOME, from ./.env) when there is one, so the sensor's saved state is the real one.
    instance = dg.DagsterInstance.get() if is_set("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance, dg.build_sensor_context(instance=instance, sensor_name=name, resources=defs.resources) as context:
        try:
            result = sensor(context)
        except Exception as exc:  # noqa: BLE001 - the verdict: a failing tick, whatever the sensor raised
            unset = one_line(exc)  # no stack: a setting is missing, which is not the sensor's verdict
            if unset:
                raise ConfigError(unset) from None
            return f"{name} failed: {exc}"
    if isinstance(result, dg.SkipReason):
        return f"{name} skipped: {result.skip_message}"
    return f"{name} would request: {result!r}"
