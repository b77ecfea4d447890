"""Developer and operator tooling (the notify-pipelines CLI, the dev stack, seed data, the Celery worker): may import anything."""
