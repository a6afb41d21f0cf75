"""``pyflymq.producer`` is ``flymq.client.producer``."""

import sys

import flymq.client.producer

sys.modules[__name__] = flymq.client.producer
