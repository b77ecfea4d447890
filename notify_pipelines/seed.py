"""Realistic synthetic data, generated inside PostgreSQL. (Stub: being built.)"""

DISTRIBUTIONS_HELP = "Generate realistic synthetic data."


def run_from_cli(args) -> None:
    raise NotImplementedError("seed is being built")
