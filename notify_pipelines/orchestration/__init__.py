"""How the night runs: the one timetable (timetable.py) and what starts its slots in order (night.py)."""
