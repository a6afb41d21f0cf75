"""``pyflymq.protocol`` is ``flymq.protocol``."""

import sys

import flymq.protocol

sys.modules[__name__] = flymq.protocol
