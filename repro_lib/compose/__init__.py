"""The Docker side: the compose stacks (:mod:`.stack`), log and event capture (:mod:`.capture`),
the emulated images (:mod:`.images`) and secret redaction (:mod:`.redact`)."""

__all__: list[str] = []
