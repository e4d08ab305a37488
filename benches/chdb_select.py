#!/usr/bin/env python3
"""The chDB baseline of benches/run.sh: the Bedrock-relevant selection keytrail makes,
as one ClickHouse query (chDB, in-process) over the corpus's gzip JSON files.

    python3 benches/chdb_select.py CORPUS_DIR --output FILE [--threads 2] [--print-sql]

CORPUS_DIR is the folder holding AWSLogs/ (every *.json.gz under CORPUS_DIR/AWSLogs is
read). Each selected record is written to FILE as its raw JSON text, one per line
(`INTO OUTFILE ... FORMAT TSVRaw`: the records are compact JSON, so a record is a line).
Prints one line: `chdb: N records selected in S s (T threads, chDB VERSION)`.

The query (see SQL below, or --print-sql) reads each delivery file as one JSON document
(`JSONAsString`), splits `Records` into one row per record (`arrayJoin` over
`JSONExtractArrayRaw`) and keeps a record when any of these holds, which is what
`is_relevant` (src/transforms/classify.rs) decides from the columns `normalize` fills:

  (a) eventSource starts with "bedrock";
  (b) additionalEventData.callWithBearerToken or requestParameters.callWithBearerToken is
      true or the string "true" (any case, trimmed);
  (c) eventName contains "ServiceSpecificCredential";
  (d) the user name (userIdentity.userName, else the session issuer's userName, else the
      last path segment of userIdentity.arn after ":user/") or requestParameters.userName
      is a console key user: "BedrockAPIKey-" (any case) and at least one more character;
  (e) requestParameters.policyArn contains "AmazonBedrock";
  (f) eventName contains "Policy" and the requestParameters text, lowercased, contains
      "callwithbearertoken", "bearertokentype" or "servicespecificcredentialservicename".
      (keytrail looks in the string values only; this reads the object's raw text, keys
      included: the same on every record of the benchmark corpora.)

Only the Python standard library and the `chdb` package (run.sh pins it and installs it
into a venv under ~/.cache/keytrail) are needed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# A console key user name: "bedrockapikey-" (any case) and at least one more character.
_KEY_USER = "(length({x}) > 14 AND startsWith(lower({x}), 'bedrockapikey-'))"


def _flag(*path: str) -> str:
    """SQL: the field at `path` is JSON true or a string "true" (any case, trimmed)."""
    p = ", ".join(f"'{k}'" for k in path)
    return (f"(JSONExtractRaw(r, {p}) = 'true' "
            f"OR lower(trimBoth(JSONExtractString(r, {p}))) = 'true')")


def _user_name() -> str:
    """SQL: keytrail's `user_name` column (the first of the three that is present)."""
    arn = "JSONExtractString(r, 'userIdentity', 'arn')"
    from_arn = (f"if(position({arn}, ':user/') > 0, "
                f"splitByChar('/', {arn})[-1], '')")
    return ("multiIf("
            "JSONType(r, 'userIdentity', 'userName') = 'String', "
            "JSONExtractString(r, 'userIdentity', 'userName'), "
            "JSONType(r, 'userIdentity', 'sessionContext', 'sessionIssuer', 'userName') = 'String', "
            "JSONExtractString(r, 'userIdentity', 'sessionContext', 'sessionIssuer', 'userName'), "
            f"{from_arn})")


def select_sql(corpus: str, output: str, threads: int) -> str:
    """The whole query, writing the selected records to `output`."""
    glob = os.path.join(os.path.abspath(corpus), "AWSLogs", "**", "*.json.gz")
    q = lambda s: s.replace("\\", "\\\\").replace("'", "\\'")  # noqa: E731 (SQL string literal)
    return f"""
SELECT r
FROM (
    SELECT arrayJoin(JSONExtractArrayRaw(doc, 'Records')) AS r
    FROM file('{q(glob)}', 'JSONAsString', 'doc String')
)
WHERE startsWith(JSONExtractString(r, 'eventSource'), 'bedrock')                      -- (a)
   OR {_flag('additionalEventData', 'callWithBearerToken')}                            -- (b)
   OR {_flag('requestParameters', 'callWithBearerToken')}
   OR position(JSONExtractString(r, 'eventName'), 'ServiceSpecificCredential') > 0      -- (c)
   OR {_KEY_USER.format(x=_user_name())}                                                -- (d)
   OR {_KEY_USER.format(x="JSONExtractString(r, 'requestParameters', 'userName')")}
   OR position(JSONExtractString(r, 'requestParameters', 'policyArn'), 'AmazonBedrock') > 0  -- (e)
   OR (position(JSONExtractString(r, 'eventName'), 'Policy') > 0                        -- (f)
       AND multiSearchAny(lower(JSONExtractRaw(r, 'requestParameters')),
           ['callwithbearertoken', 'bearertokentype', 'servicespecificcredentialservicename']))
INTO OUTFILE '{q(os.path.abspath(output))}' TRUNCATE FORMAT TSVRaw
SETTINGS max_threads = {threads}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="the corpus folder (holding AWSLogs/)")
    ap.add_argument("--output", "-o", required=True, help="where the selected records go")
    ap.add_argument("--threads", type=int, default=2, help="ClickHouse max_threads (default 2)")
    ap.add_argument("--print-sql", action="store_true", help="print the query and exit")
    args = ap.parse_args()
    sql = select_sql(args.corpus, args.output, args.threads)
    if args.print_sql:
        print(sql)
        return 0
    if not os.path.isdir(os.path.join(args.corpus, "AWSLogs")):
        print(f"chdb_select: {args.corpus}: no AWSLogs/ folder in it", file=sys.stderr)
        return 2
    try:
        import chdb  # noqa: PLC0415 (only needed to run the query)
    except ImportError:
        print("chdb_select: the chdb package is missing: pip install chdb "
              "(benches/run.sh installs the pinned version into a venv)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    chdb.query(sql, "CSV")
    secs = time.monotonic() - t0
    with open(args.output, "rb") as fh:
        n = sum(1 for _ in fh)
    print(f"chdb: {n} records selected in {secs:.2f} s "
          f"({args.threads} threads, chDB {chdb.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
