"""``pyflymq.serde`` is ``flymq.serde``."""

import sys

import flymq.serde

sys.modules[__name__] = flymq.serde
