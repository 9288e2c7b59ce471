"""Settings for ``bench/stack_floor.py``: the project's, with a URL conf of two do-nothing views."""

from tzurot_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor.urls"
