"""``pyflymq.reactive``: Rx helpers of the optional ``reactive`` extra (not available yet)."""

from flymq import missing_extra

raise missing_extra("reactive")
