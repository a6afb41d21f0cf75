"""``pyflymq.crypto``: upstream's AES-GCM helpers, not implemented by flymq yet."""

from flymq import not_implemented

raise ImportError(not_implemented("crypto"))
