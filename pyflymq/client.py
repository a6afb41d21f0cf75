"""``pyflymq.client`` is ``flymq.client``."""

import sys

import flymq.client

sys.modules[__name__] = flymq.client
