"""``pyflymq.exceptions`` is ``flymq.errors``."""

import sys

import flymq.errors

sys.modules[__name__] = flymq.errors
