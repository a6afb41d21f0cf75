"""Sizes of protocol v1 that every layer needs: the client sizes its requests with them, the
broker its largest message, the protocol package its frames. A module of its own, importing
nothing, so the client gets them without loading the codecs and no import cycle forms."""

#: The payload limit of one frame, 32 MiB, header excluded (wire spec §3).
MAX_FRAME_PAYLOAD = 33_554_432

#: Bytes of a PRODUCE payload besides the topic, key and value: the topic's u16 length, the
#: key's and value's u32 lengths and the i32 partition (wire spec §6.1.1).
PRODUCE_OVERHEAD = 2 + 4 + 4 + 4
