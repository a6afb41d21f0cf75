"""``pyflymq.reactive``: upstream's Rx helpers, not implemented by flymq yet."""

from flymq import not_implemented

raise ImportError(not_implemented("reactive"))
