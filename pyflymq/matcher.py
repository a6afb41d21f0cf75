"""``pyflymq.matcher`` is ``flymq.matcher``."""

import sys

import flymq.matcher

sys.modules[__name__] = flymq.matcher
