"""``pyflymq.binary``: home of ``RecordMetadata`` upstream."""

from flymq.models import RecordMetadata  # noqa: F401
