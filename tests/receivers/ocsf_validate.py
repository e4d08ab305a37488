"""Validates OCSF events against the official OCSF schema, offline.

Reads one JSON event per line from the files named (or stdin). Each event is checked with
the JSON Schema that ocsf-json-schema builds from the official OCSF schema of the event's
`metadata.version`, for its `class_uid`, with the profiles in `metadata.profiles`.
Prints `ok N` when every event is valid; otherwise one line per problem
(`line N: path: message`) and exits with 1. Used by tests/it/siem_receivers.rs.
"""

import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema


def validators():
    """Builds (and caches) a validator per (version, class, profiles)."""
    cache = {}
    schemas = {}

    def get(version, class_uid, profiles):
        key = (version, class_uid, tuple(sorted(profiles)))
        if key not in cache:
            if version not in schemas:
                schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
            s = schemas[version]
            name = s.lookup_class_name_from_uid(class_uid=class_uid)
            schema = s.get_class_schema(class_name=name, profiles=list(profiles))
            Draft202012Validator.check_schema(schema)
            cache[key] = Draft202012Validator(schema)
        return cache[key]

    return get


def main():
    get = validators()
    problems = 0
    n = 0
    streams = [open(p, encoding="utf-8") for p in sys.argv[1:]] or [sys.stdin]
    for stream in streams:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            n += 1
            event = json.loads(line)
            meta = event.get("metadata", {})
            v = get(meta.get("version"), event.get("class_uid"), meta.get("profiles", []))
            for err in sorted(v.iter_errors(event), key=lambda e: list(e.absolute_path)):
                path = "/".join(str(p) for p in err.absolute_path) or "(event)"
                print(f"line {number}: {path}: {err.message[:300]}")
                problems += 1
    if problems:
        sys.exit(1)
    print(f"ok {n}")


if __name__ == "__main__":
    main()
