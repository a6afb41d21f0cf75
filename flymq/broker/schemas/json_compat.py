"""Evolution rules for JSON Schema: what breaks when data valid under a *writer* schema is
read by consumers that expect a *reader* schema (docs/schemas.md, "JSON Schema rules").

The check is structural and conservative: a change it cannot prove safe is reported. It
follows local ``$ref`` pointers (``#/...``) in both schemas and understands ``type``,
``enum``/``const``, ``properties``/``required``/``additionalProperties``, ``items``, the
numeric, length and size bounds, ``pattern``/``format``/``multipleOf``, ``not`` and the
combinators (``anyOf``/``oneOf``: every writer branch must be accepted and some reader branch
must accept; ``allOf``: every reader branch must accept). One deliberate allowance: a reader
property the writer did not declare is accepted even when the writer's object was open,
because producers do not send undeclared properties in practice (strict registries call
this a break, which would forbid adding any optional property).
"""

from __future__ import annotations

from typing import Any

from flymq.broker.schemas.kinds import ITEMS, path_text

LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
EXACT = ("pattern", "format", "multipleOf")
#: References left after resolving local pointers: what they point at is not compared.
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")
_MAX_REF_CHAIN = 32


#: Subschema comparisons one check may make: nested combinators multiply them, and a schema
#: built to explode must not hold a registration (and the registry's lock) for long.
MAX_COMPARISONS = 20_000


class _TooComplex(Exception):
    pass


def reader_problems(reader: Any, writer: Any) -> list[str]:
    """``"$.path: what breaks"`` items; empty when every writer instance is a reader one."""
    try:
        return _Compare(reader, writer).problems(reader, writer, [])
    except _TooComplex:
        return [f"$: the schemas are too complex to compare (more than {MAX_COMPARISONS:,} "
                "subschema comparisons)"]


def _pointer(root: Any, pointer: str) -> Any:
    """The subschema at a JSON pointer (``/$defs/a``), None when it does not resolve."""
    node = root
    for part in pointer.split("/")[1:] if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _types(schema: dict) -> set[str] | None:
    t = schema.get("type")
    if t is None:
        return None
    return {t} if isinstance(t, str) else set(t)


def _without(schema: dict, key: str) -> dict:
    return {k: v for k, v in schema.items() if k != key}


def _merged(base: dict, extra: Any) -> Any:
    """``base`` and a branch that both hold (an ``allOf`` branch, an ``anyOf`` choice)."""
    if not isinstance(extra, dict):
        return extra if extra is False or not base else base
    out = {**base, **extra}
    if "properties" in base and "properties" in extra:
        out["properties"] = {**base["properties"], **extra["properties"]}
    if "required" in base and "required" in extra:
        out["required"] = sorted(set(base["required"]) | set(extra["required"]))
    return out


class _Compare:
    def __init__(self, reader_root: Any, writer_root: Any):
        self.roots = (reader_root, writer_root)
        self.active: set[tuple[int, int]] = set()   # pairs being compared: recursive schemas
        self.budget = MAX_COMPARISONS

    def resolve(self, schema: Any, side: int) -> Any:
        for _ in range(_MAX_REF_CHAIN):
            ref = schema.get("$ref") if isinstance(schema, dict) else None
            if not isinstance(ref, str) or not ref.startswith("#"):
                return schema
            target = _pointer(self.roots[side], ref[1:])
            if target is None:
                return schema
            rest = _without(schema, "$ref")
            schema = _merged(target, rest) if isinstance(target, dict) and rest else target
        return schema

    def problems(self, r: Any, w: Any, path: list) -> list[str]:
        self.budget -= 1
        if self.budget < 0:
            raise _TooComplex()
        r, w = self.resolve(r, 0), self.resolve(w, 1)
        if r is True or r == {} or w is False:
            return []
        if r is False:
            return [f"{path_text(path)}: the reader accepts nothing here"]
        if w is True:
            w = {}
        if not isinstance(r, dict) or not isinstance(w, dict):
            return [f"{path_text(path)}: not a schema"]
        key = (id(r), id(w))
        if key in self.active:
            return []   # a recursive schema met itself: the outer comparison covers it
        self.active.add(key)
        try:
            return self._compare(r, w, path)
        finally:
            self.active.discard(key)

    def _compare(self, r: dict, w: dict, path: list) -> list[str]:
        for side in (r, w):
            for keyword in REFERENCES:
                if keyword in side and (r != w or self.roots[0] != self.roots[1]):
                    return [f"{path_text(path)}: {keyword} {side[keyword]!r} is not followed "
                            "by the compatibility check (only local #/... references are)"]
        for combinator in ("anyOf", "oneOf"):
            if isinstance(w.get(combinator), list):   # each writer choice must be readable
                rest = _without(w, combinator)
                return [p for branch in w[combinator]
                        for p in self.problems(r, _merged(rest, branch), path)]
        if isinstance(w.get("allOf"), list):
            merged = _without(w, "allOf")
            for branch in w["allOf"]:
                merged = _merged(merged, self.resolve(branch, 1))
            return self.problems(r, merged, path)
        if isinstance(r.get("allOf"), list):
            rest = _without(r, "allOf")
            return self.problems(rest, w, path) + [
                p for branch in r["allOf"] for p in self.problems(branch, w, path)]
        for combinator in ("anyOf", "oneOf"):
            if isinstance(r.get(combinator), list):   # some reader choice must accept
                rest = _without(r, combinator)
                tries = [self.problems(_merged(rest, b), w, path) for b in r[combinator]]
                if any(not t for t in tries):
                    return []
                return [f"{path_text(path)}: no {combinator} choice of the reader accepts the "
                        f"writer's data (closest: {min(tries, key=len)[0]})"]
        where = path_text(path)
        found = self._scalars(r, w, where)
        found += self._object(r, w, path)
        found += self._array(r, w, path)
        if "not" in r and r["not"] != w.get("not"):
            found.append(f"{where}: 'not' added or changed")
        return found

    @staticmethod
    def _scalars(r: dict, w: dict, where: str) -> list[str]:
        found = []
        rt, wt = _types(r), _types(w)
        if rt is not None:
            if wt is None:
                found.append(f"{where}: type narrowed to {sorted(rt)} (the writer allowed any)")
            else:
                lost = sorted(t for t in wt if t not in rt
                              and not (t == "integer" and "number" in rt))
                if lost:
                    found.append(f"{where}: type narrowed, {lost} no longer accepted")
        if "enum" in r:
            written = w["enum"] if "enum" in w else [w["const"]] if "const" in w else None
            if written is None:
                found.append(f"{where}: enum added, only {r['enum']} accepted")
            elif lost := [v for v in written if v not in r["enum"]]:
                found.append(f"{where}: enum values removed: {lost}")
        if "const" in r:
            written = w["enum"] if "enum" in w else [w["const"]] if "const" in w else None
            if written is None or any(v != r["const"] for v in written):
                found.append(f"{where}: const {r['const']!r} added or changed")
        for bound in LOWER_BOUNDS:
            value = r.get(bound)
            if _number(value) and not (_number(w.get(bound)) and w[bound] >= value):
                found.append(f"{where}: {bound} raised to {value}")
        for bound in UPPER_BOUNDS:
            value = r.get(bound)
            if _number(value) and not (_number(w.get(bound)) and w[bound] <= value):
                found.append(f"{where}: {bound} lowered to {value}")
        for keyword in EXACT:
            if keyword in r and r[keyword] != w.get(keyword):
                change = "changed" if keyword in w else "added"
                found.append(f"{where}: {keyword} {change} to {r[keyword]!r}")
        if r.get("uniqueItems") is True and w.get("uniqueItems") is not True:
            found.append(f"{where}: uniqueItems added")
        return found

    def _object(self, r: dict, w: dict, path: list) -> list[str]:
        found = []
        rp, wp = r.get("properties") or {}, w.get("properties") or {}
        r_open, w_open = r.get("additionalProperties", True), w.get("additionalProperties", True)
        w_required = set(w.get("required") or ())
        for name in r.get("required") or ():
            if name not in w_required:
                state = "optional" if name in wp else "not declared"
                found.append(f"{path_text(path + [name])}: required by the reader, {state} "
                             "for the writer")
        for name, written in wp.items():
            if name in rp:
                found += self.problems(rp[name], written, path + [name])
            elif r_open is False:
                found.append(f"{path_text(path + [name])}: property removed, and the reader "
                             "allows no additional properties")
            elif isinstance(r_open, dict):
                found += self.problems(r_open, written, path + [name])
        for name, read in rp.items():
            if name not in wp and isinstance(w_open, dict):
                found += self.problems(read, w_open, path + [name])
        if w_open is not False:
            if r_open is False:
                found.append(f"{path_text(path)}: additionalProperties set to false (the writer "
                             "allowed other properties)")
            elif isinstance(r_open, dict):
                found += self.problems(r_open, w_open if isinstance(w_open, dict) else {},
                                       path + ["*"])
        return found

    def _array(self, r: dict, w: dict, path: list) -> list[str]:
        read, written = r.get("items"), w.get("items")
        if isinstance(read, list) or isinstance(written, list):
            if read is not None and read != written:
                return [f"{path_text(path)}: tuple items changed"]
            return []
        if read is None:
            return []
        return self.problems(read, {} if written is None else written, path + [ITEMS])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
