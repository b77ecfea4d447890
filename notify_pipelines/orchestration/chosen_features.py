"""Dagster features this project uses knowingly although Dagster marks them beta or preview: their warnings are
silenced once, where the code location loads (notify_pipelines/definitions.py), so that every command's output shows
only what concerns the reader. Any other beta or preview warning still shows: a new one is a choice to make.

- `backfill_policy` on `@asset` (beta): the facts backfill a range of days in one run (BackfillPolicy.single_run).
- `partitions_def` on an asset check (preview): each day's checks belong to that day's partition.
And one that is not a choice but Dagster's own call: `owners` of `SensorDefinition` (beta), which the project never
sets; Dagster passes it (empty) itself when it copies a sensor that targets jobs (night_plan) as the code location is
resolved.
"""

from __future__ import annotations

import warnings

import dagster as dg

CHOSEN_BETA = (r"Parameter `backfill_policy` of function `asset`",
               r"Parameter `owners` of initializer `SensorDefinition.__init__`")
CHOSEN_PREVIEW = (r"Specifying a partitions_def on an AssetCheckSpec",)


def silence_chosen_feature_warnings() -> None:
    for message in CHOSEN_BETA:
        warnings.filterwarnings("ignore", message=message, category=dg.BetaWarning)
    for message in CHOSEN_PREVIEW:
        warnings.filterwarnings("ignore", message=message, category=dg.PreviewWarning)
