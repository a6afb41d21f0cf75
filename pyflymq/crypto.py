"""``pyflymq.crypto``: AES-GCM helpers of the optional ``crypto`` extra (not available yet)."""

from flymq import missing_extra

raise missing_extra("crypto")
