"""The Prefect layer: workflow files, compiler, runner, CLI and HTTP entry points.

Importing this package first points Prefect at `LH_HOME` and keeps it offline, before any
`import prefect` runs.
"""

from flows.prefect_env import configure_prefect_environment

configure_prefect_environment()
