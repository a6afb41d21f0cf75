"""``pyflymq.types`` is ``pyflymq.models``."""

import sys

import pyflymq.models

sys.modules[__name__] = pyflymq.models
