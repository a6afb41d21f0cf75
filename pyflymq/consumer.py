"""``pyflymq.consumer`` is ``flymq.client.consumer``."""

import sys

import flymq.client.consumer

sys.modules[__name__] = flymq.client.consumer
