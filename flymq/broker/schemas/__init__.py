"""The schema registry: durable, versioned subjects, their compatibility rules and the
compiled validators that check produced records (docs/schemas.md).

- :mod:`.registry`: the coordinator (state on a :class:`~flymq.broker.statelog.StateLog`);
- :mod:`.kinds`: the schema types by name, and what a compiled schema offers;
- :mod:`.json_kind`, :mod:`.json_compat`: JSON Schema (validation and evolution rules);
- :mod:`.avro_kind`: Avro through fastavro (validation) and avro (schema resolution);
- :mod:`.protobuf_kind`: Protobuf wire-format checks (the ``protobuf`` extra);
- :mod:`.compatibility`: the compatibility modes and which versions each checks.
- :mod:`.facade`: the Broker's schema methods (``Broker`` inherits ``SchemaOperations``).

Importing the package loads nothing: the broker configuration reads the modes from
:mod:`.compatibility` without pulling in the registry and its libraries.
"""
