#!/usr/bin/env python3
"""Generate a large, deterministic CloudTrail corpus for benchmarking keytrail.

The corpus is written in the S3 delivery layout

    <out>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
        <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 alnum>.json.gz

each file one compact `{"Records":[...]}` document, gzip level 6, mtime 0.

* Background events (99.5 %) are real public CloudTrail records read at run time
  from /work/shared/datasets (invictus-aws delivery files and Stratus Red Team
  detonation logs; see that folder's README and licenses). Nothing from there
  is copied into the repository. Each sampled record keeps its shape; its
  eventID, requestID, eventTime, sourceIPAddress (when it is an IPv4 address),
  awsRegion and recipientAccountId are replaced so records are not identical.
  Every real record that is Bedrock-relevant (see `is_relevant`) is excluded
  from the background, so the relevant fraction is exactly controlled.
* Exactly floor(events x --relevant-rate) events (default 0.005: events // 200)
  are synthetic Bedrock-relevant records built from templates: bearer-token Bedrock calls by BedrockAPIKey- IAM users
  and by assumed roles (ASIA keys), bedrock-mantle calls, service-specific
  credential lifecycle events, the console key flow (CreateUser,
  AttachUserPolicy AmazonBedrockLimitedAccess) and plain ListFoundationModels.
  All identifiers are synthetic (example account ids, documentation IP ranges,
  random ids from the seeded PRNG).
* `--relevant-mix bearer` keeps only the bearer-token kinds (Bedrock runtime
  calls by key users and by assumed roles, bedrock-mantle calls): with
  `--relevant-rate 1` every event is a bearer-token call (the "dense" corpus).
  In that mix an assumed role's session (its name and ASIA key) is reused for
  the whole delivery file, as a real session lasts an hour; the default mix
  draws a new session per event, as before.

The output depends only on --seed, --events, --relevant-rate, --relevant-mix and
the dataset files: re-running
gives byte-identical .json.gz files. `MANIFEST.json` (written last) records the
parameters and totals; if it already matches the requested parameters and the
files are present, the script does nothing.

Usage:
    python3 benches/gen_corpus.py --out DIR [--events 1000000] [--seed 42] [--workers 2]
        [--relevant-rate 0.005] [--relevant-mix all|bearer]

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import bisect
from fractions import Fraction
import gzip
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import string
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

GENERATOR_VERSION = 1          # bump when the output for a given seed changes
DEFAULT_DATASETS = "/work/shared/datasets"
EVENTS_PER_FILE = 435          # mean; 1,000,000 events -> ~2,300 files
DEFAULT_RATE = "0.005"         # 0.5 % relevant: events // 200
RUN_MEAN = 6.0                 # mean length of runs of consecutive real records

ACCOUNTS = [("111122223333", 5), ("444455556666", 3), ("777788889999", 2)]
REGIONS = [("us-east-1", 45), ("us-west-2", 25), ("eu-central-1", 20), ("ap-northeast-1", 10)]
NOV_2026 = datetime(2026, 11, 1, tzinfo=timezone.utc)
SLOTS_IN_NOV = 30 * 24 * 12    # 5-minute delivery slots

# Services whose events CloudTrail delivers to us-east-1 only (global services).
GLOBAL_SOURCES = {"iam.amazonaws.com", "organizations.amazonaws.com", "route53.amazonaws.com",
                  "signin.amazonaws.com", "account.amazonaws.com", "ce.amazonaws.com",
                  "cloudfront.amazonaws.com"}

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
IPV4_RE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
SENTINEL_RE = re.compile(r"@@KT([A-Z])@@")


# --------------------------------------------------------------------------
# Bedrock-relevance predicate (keytrail's is_relevant; benches/chdb_select.py has it in SQL)
# --------------------------------------------------------------------------

def _get(d, *path):
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _s(v) -> str | None:
    return v if isinstance(v, str) else None


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _lower(v: str) -> str:
    # ASCII letters only, as keytrail's to_ascii_lowercase
    return v.translate(_ASCII_LOWER)


def _flag(v) -> bool:
    return v is True or (isinstance(v, str) and _lower(v) == "true")


def _bk_user(v) -> bool:
    return isinstance(v, str) and _lower(v).startswith("bedrockapikey-")


def _tostring(v) -> str:
    # strings as they are, everything else as compact JSON
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def is_relevant(r) -> bool:
    if not isinstance(r, dict):
        return False
    src = _s(r.get("eventSource")) or ""
    name = _s(r.get("eventName")) or ""
    req = r.get("requestParameters")
    arn = _s(_get(r, "userIdentity", "arn"))
    arn_user = arn.split("/")[-1] if arn and ":user/" in arn else None
    if src.startswith("bedrock"):
        return True
    if _flag(_get(r, "additionalEventData", "callWithBearerToken")) or \
            _flag(_get(r, "requestParameters", "callWithBearerToken")):
        return True
    if "ServiceSpecificCredential" in name:
        return True
    if any(_bk_user(u) for u in (_get(r, "userIdentity", "userName"),
                                 _get(r, "userIdentity", "sessionContext", "sessionIssuer", "userName"),
                                 arn_user,
                                 _get(r, "requestParameters", "userName"))):
        return True
    if "AmazonBedrock" in (_s(_get(r, "requestParameters", "policyArn")) or ""):
        return True
    if "Policy" in name:
        t = _lower(_tostring(req))
        if "callwithbearertoken" in t or "bearertokentype" in t or \
                "servicespecificcredentialservicename" in t:
            return True
    return False


def looks_bedrockish(r) -> bool:
    """Extra-conservative background filter: anything mentioning these words at all."""
    t = json.dumps(r, ensure_ascii=False).lower()
    return any(w in t for w in ("bedrock", "bearertoken", "servicespecificcredential"))


# --------------------------------------------------------------------------
# background templates from the real datasets
# --------------------------------------------------------------------------

def load_real_records(datasets: Path) -> list[tuple[str, dict]]:
    out = []
    files = sorted((datasets / "invictus-aws" / "CloudTrail").glob("*.json")) + \
        sorted((datasets / "stratus-detonation").glob("*.json"))
    if not files:
        sys.exit(f"gen_corpus: no CloudTrail JSON found under {datasets}")
    for f in files:
        with open(f, encoding="utf-8") as fh:
            d = json.load(fh)
        if isinstance(d, dict) and isinstance(d.get("Records"), list):
            recs = d["Records"]
        elif isinstance(d, list):
            recs = d
        elif isinstance(d, dict) and "eventName" in d:
            recs = [d]          # two Stratus files hold a single bare record
        else:
            continue
        out.extend((f.name, r) for r in recs if isinstance(r, dict))
    return out


# Field codes in a template: E eventID, T eventTime, I sourceIPAddress,
# Q requestID, R awsRegion, A recipientAccountId.
def make_template(rec: dict):
    r = dict(rec)       # keeps key order
    rid_kind = None
    r["eventID"] = "@@KTE@@"
    r["eventTime"] = "@@KTT@@"
    if isinstance(r.get("sourceIPAddress"), str) and IPV4_RE.match(r["sourceIPAddress"]):
        r["sourceIPAddress"] = "@@KTI@@"
    rid = r.get("requestID")
    if isinstance(rid, str) and rid:
        if UUID_RE.match(rid):
            rid_kind = ("uuid", 36)
        elif all(c in UPPER_ALNUM for c in rid):
            rid_kind = (UPPER_ALNUM, len(rid))
        elif all(c in LOWER_ALNUM for c in rid):
            rid_kind = (LOWER_ALNUM, len(rid))
        else:
            rid_kind = (ALNUM, len(rid))
        r["requestID"] = "@@KTQ@@"
    if r.get("eventSource") not in GLOBAL_SOURCES and "awsRegion" in r:
        r["awsRegion"] = "@@KTR@@"
    if "recipientAccountId" in r:
        r["recipientAccountId"] = "@@KTA@@"
    s = json.dumps(r, separators=(",", ":"), ensure_ascii=False)
    pieces = SENTINEL_RE.split(s)
    parts = tuple(pieces[0::2])
    fields = "".join(pieces[1::2])
    return parts, fields, rid_kind


def build_background(datasets: Path):
    recs = load_real_records(datasets)
    pool_all, pool_regional = [], []
    excluded = 0
    for _, r in recs:
        rel = is_relevant(r)
        if rel or looks_bedrockish(r):
            excluded += 1
            continue
        t = make_template(r)
        pool_all.append(t)
        if r.get("eventSource") not in GLOBAL_SOURCES:
            pool_regional.append(t)
    return pool_all, pool_regional, len(recs), excluded


# --------------------------------------------------------------------------
# Bedrock-relevant templates (synthetic)
# --------------------------------------------------------------------------

MODELS = ["anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
          "amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0", "meta.llama3-1-70b-instruct-v1:0",
          "us.anthropic.claude-sonnet-4-20250514-v1:0"]
MANTLE_MODELS = ["openai.gpt-oss-120b", "anthropic.claude-sonnet-4-5", "openai.gpt-oss-20b"]
RUNTIME_OPS = ["InvokeModel", "InvokeModel", "InvokeModel", "Converse", "Converse",
               "InvokeModelWithResponseStream", "ConverseStream"]
MANTLE_OPS = ["CreateChatCompletion", "CreateMessage", "CreateResponse"]
UAS_BEARER = ["python-requests/2.32.3", "curl/8.5.0", "Python/3.12 aiohttp/3.10.11",
              "Boto3/1.39.3 md/Botocore#1.39.3 ua/2.1 os/linux#6.8.0-1021-aws md/arch#x86_64 "
              "lang/python#3.12.3 md/pyimpl#CPython m/b,Z cfg/retry-mode#legacy Botocore/1.39.3",
              "aws-sdk-js/3.716.0 ua/2.1 os/linux#6.8.0 lang/js md/nodejs#20.18.1 "
              "api/bedrock-runtime#3.716.0 m/E",
              "axios/1.7.9", "python-httpx/0.28.1"]
UAS_MANTLE = ["OpenAI/Python 1.97.0", "Anthropic/Python 0.64.0", "curl/8.5.0"]
UA_CONSOLE = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
UA_CLI = ("aws-cli/2.22.35 md/awscrt#0.23.4 ua/2.0 os/linux#6.8.0-1019-aws md/arch#x86_64 "
          "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
          "md/distrib#ubuntu.24 md/prompt#off md/command#iam.{}")

# (kind, weight, iam?)  IAM events are global: only in us-east-1 files.
KINDS = [("bearer_user", 35, False), ("bearer_role", 20, False), ("mantle", 15, False),
         ("list_models", 10, False), ("ssc_create", 5, True), ("ssc_change", 5, True),
         ("create_user", 5, True), ("attach_policy", 5, True)]
BEARER_KINDS = ("bearer_user", "bearer_role", "mantle")
MIXES = ("all", "bearer")


def make_actors(seed: int) -> dict:
    rng = random.Random(f"keytrail-bench-actors/{seed}")

    def rs(n, a=UPPER_ALNUM):
        return "".join(rng.choice(a) for _ in range(n))

    actors = {}
    for acct, _ in ACCOUNTS:
        keyusers = []
        for _ in range(4):
            name = "BedrockAPIKey-" + rs(4, string.ascii_lowercase + string.digits)
            keyusers.append({"name": name, "id": "AIDA" + rs(17), "cred": "ACCA" + rs(17),
                             "ip": f"203.0.113.{rng.randrange(1, 255)}"})
        roles = [{"name": n, "id": "AROA" + rs(17), "ip": f"192.0.2.{rng.randrange(1, 255)}"}
                 for n in ("bedrock-app-role", "data-science")]
        admins = [{"name": n, "id": "AIDA" + rs(17), "key": "AKIA" + rs(16),
                   "ip": f"198.51.100.{rng.randrange(1, 255)}"} for n in ("alice", "ops-admin")]
        actors[acct] = {"keyusers": keyusers, "roles": roles, "admins": admins}
    return actors


def _uuid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _user_ident(acct, u, key=None):
    d = {"type": "IAMUser", "principalId": u["id"], "arn": f"arn:aws:iam::{acct}:user/{u['name']}",
         "accountId": acct}
    if key:
        d["accessKeyId"] = key
    d["userName"] = u["name"]
    return d


def _role_ident(acct, role, session, key, created):
    return {"type": "AssumedRole", "principalId": f"{role['id']}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role['name']}/{session}",
            "accountId": acct, "accessKeyId": key,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": role["id"],
                                                 "arn": f"arn:aws:iam::{acct}:role/{role['name']}",
                                                 "accountId": acct, "userName": role["name"]},
                               "webIdFederationData": {},
                               "attributes": {"creationDate": created, "mfaAuthenticated": "false"}}}


def make_relevant(kind: str, rng: random.Random, acct: str, region: str, actors: dict,
                  when: datetime, sessions: dict | None = None) -> dict:
    """One relevant record. With `sessions` (a dict kept for one delivery file), an
    assumed role's session name, ASIA key and creation time are drawn once per role and
    reused; without it, every call gets a new session."""
    a = actors[acct]

    def rs(n, al=UPPER_ALNUM):
        return "".join(rng.choice(al) for _ in range(n))

    def role_session(role):
        if sessions is not None and role["name"] in sessions:
            return sessions[role["name"]]
        created = _iso(when - timedelta(minutes=rng.randrange(5, 600)))
        s = (f"app-{rs(6, LOWER_ALNUM)}", "ASIA" + rs(16), created)
        if sessions is not None:
            sessions[role["name"]] = s
        return s

    t = _iso(when)
    source, name, version, category = "bedrock.amazonaws.com", None, "1.09", "Management"
    req = resp = add = resources = None
    read_only = True
    host = None
    if kind in ("bearer_user", "bearer_role"):
        name = rng.choice(RUNTIME_OPS)
        model = rng.choice(MODELS)
        if kind == "bearer_user":
            u = rng.choice(a["keyusers"])
            ident, ip = _user_ident(acct, u), u["ip"]
        else:
            role = rng.choice(a["roles"])
            session, key, created = role_session(role)
            ident = _role_ident(acct, role, session, key, created)
            ip = role["ip"]
        ua = rng.choice(UAS_BEARER)
        req = {"modelId": model}
        # some SIEM exports write the flag as a string
        add = {"callWithBearerToken": "true" if rng.random() < 0.05 else True}
        if model.startswith("us."):
            add["inferenceRegion"] = "us-east-2"
        host = f"bedrock-runtime.{region}.amazonaws.com"
    elif kind == "mantle":
        source, category, read_only = "bedrock-mantle.amazonaws.com", "Data", False
        name = rng.choice(MANTLE_OPS)
        model = rng.choice(MANTLE_MODELS)
        if rng.random() < 0.6:
            u = rng.choice(a["keyusers"])
            ident, ip, ttype = _user_ident(acct, u), u["ip"], "ABSK"
        else:
            role = rng.choice(a["roles"])
            session, key, created = role_session(role)
            ident = _role_ident(acct, role, session, key, created)
            ip, ttype = role["ip"], "SHORT_TERM"
        ua = rng.choice(UAS_MANTLE)
        req = {"callWithBearerToken": True, "bearerTokenType": ttype, "model": model, "stream": False}
        resources = [{"accountId": acct, "type": "AWS::Bedrock::Model",
                      "ARN": f"arn:aws:bedrock:{region}::foundation-model/{model}"}]
        host = f"bedrock-mantle.{region}.api.aws"
    elif kind == "list_models":
        name = "ListFoundationModels"
        adm = rng.choice(a["admins"])
        ident, ip = _user_ident(acct, adm, adm["key"]), adm["ip"]
        ua = UA_CLI.replace("iam.{}", "bedrock.list-foundation-models")
        req = {"byOutputModality": "TEXT"} if rng.random() < 0.5 else None
        host = f"bedrock.{region}.amazonaws.com"
    else:
        source, version, read_only = "iam.amazonaws.com", "1.08", False
        region = "us-east-1"
        host = "iam.amazonaws.com"
        adm = rng.choice(a["admins"])
        ident, ip = _user_ident(acct, adm, adm["key"]), adm["ip"]
        u = rng.choice(a["keyusers"])
        if kind == "ssc_create":
            name = "CreateServiceSpecificCredential"
            ua = UA_CLI.format("create-service-specific-credential")
            age = rng.choice([None, 30, 90, 365])
            req = {"userName": u["name"], "serviceName": "bedrock.amazonaws.com"}
            if age is not None:
                req["credentialAgeDays"] = age
            c = {"createDate": t}
            if age is not None:
                c["expirationDate"] = _iso(when + timedelta(days=age))
            c.update({"serviceName": "bedrock.amazonaws.com",
                      "serviceUserName": f"{u['name']}-at-{acct}",
                      "serviceSpecificCredentialId": u["cred"], "userName": u["name"],
                      "status": "Active"})
            resp = {"serviceSpecificCredential": c}
        elif kind == "ssc_change":
            name = rng.choice(["UpdateServiceSpecificCredential", "DeleteServiceSpecificCredential"])
            ua = UA_CLI.format(name[:6].lower() + "-service-specific-credential")
            req = {"userName": u["name"], "serviceSpecificCredentialId": u["cred"]}
            if name.startswith("Update"):
                req["status"] = rng.choice(["Inactive", "Active"])
        elif kind == "create_user":
            name, ua = "CreateUser", UA_CONSOLE
            uname = "BedrockAPIKey-" + rs(4, LOWER_ALNUM)
            uid = "AIDA" + rs(17)
            req = {"userName": uname}
            resp = {"user": {"path": "/", "userName": uname, "userId": uid,
                             "arn": f"arn:aws:iam::{acct}:user/{uname}", "createDate": t}}
        else:  # attach_policy
            name, ua = "AttachUserPolicy", UA_CONSOLE
            req = {"userName": u["name"],
                   "policyArn": "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"}
    r = {"eventVersion": version, "userIdentity": ident, "eventTime": t, "eventSource": source,
         "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua,
         "requestParameters": req, "responseElements": resp}
    if add is not None:
        r["additionalEventData"] = add
    r["requestID"] = _uuid(rng)
    r["eventID"] = _uuid(rng)
    r["readOnly"] = read_only
    if resources is not None:
        r["resources"] = resources
    r.update({"eventType": "AwsApiCall", "managementEvent": category == "Management",
              "recipientAccountId": acct, "eventCategory": category,
              "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": host}})
    return r


# --------------------------------------------------------------------------
# corpus plan (parent) and file generation (workers)
# --------------------------------------------------------------------------

def plan(seed: int, events: int, rate: Fraction):
    rng = random.Random(f"keytrail-bench-plan/{seed}")
    n_files = max(1, round(events / EVENTS_PER_FILE))
    n_files = min(n_files, events)
    accts = [a for a, _ in ACCOUNTS]
    aw = [w for _, w in ACCOUNTS]
    regs = [r for r, _ in REGIONS]
    rw = [w for _, w in REGIONS]
    specs = []
    for _ in range(n_files):
        acct = rng.choices(accts, aw)[0]
        region = rng.choices(regs, rw)[0]
        slot = rng.randrange(SLOTS_IN_NOV)
        suffix = "".join(rng.choice(ALNUM) for _ in range(16))
        weight = rng.lognormvariate(0.0, 0.8)
        specs.append([acct, region, slot, suffix, weight])
    # event counts: at least 1 per file, the rest proportional to the weights
    spare = events - n_files
    total_w = sum(s[4] for s in specs)
    exact = [spare * s[4] / total_w for s in specs]
    counts = [1 + int(x) for x in exact]
    left = events - sum(counts)
    order = sorted(range(n_files), key=lambda i: (-(exact[i] - int(exact[i])), i))
    for i in order[:left]:
        counts[i] += 1
    # relevant events: exact total, spread uniformly over the event sequence
    n_rel = int(events * rate)          # floor; exact for a Fraction
    if n_rel >= events:
        rel_counts = list(counts)       # every event (no sample of a 10M range)
    else:
        cum = []
        c = 0
        for n in counts:
            c += n
            cum.append(c)
        rel_counts = [0] * n_files
        for pos in rng.sample(range(events), n_rel):
            rel_counts[bisect.bisect_right(cum, pos)] += 1
    files = []
    for (acct, region, slot, suffix, _), n, nr in zip(specs, counts, rel_counts):
        files.append((acct, region, slot, suffix, n, nr))
    files.sort(key=lambda f: (f[0], f[1], f[2], f[3]))
    return files, n_rel


_W: dict = {}


def _init_worker(state):
    _W.update(state)


def gen_file(job):
    idx, (acct, region, slot, suffix, n, n_rel) = job
    seed, out = _W["seed"], _W["out"]
    rng = random.Random(f"keytrail-bench-file/{seed}/{idx}")
    end = NOV_2026 + timedelta(minutes=5 * (slot + 1))
    start = end - timedelta(minutes=5)
    hour_base = start.strftime("%Y-%m-%dT%H:")
    m0 = start.minute
    times = [f"{hour_base}{m0 + s // 60:02d}:{s % 60:02d}Z" for s in range(300)]
    offsets = sorted(rng.randrange(300) for _ in range(n))
    rel_slots = set(rng.sample(range(n), n_rel))
    pool = _W["pool_all"] if region == "us-east-1" else _W["pool_regional"]
    ips = _W["ips"]
    actors = _W["actors"]
    bearer_only = _W["mix"] == "bearer"
    kinds = [k for k in KINDS if (region == "us-east-1" or not k[2])
             and (not bearer_only or k[0] in BEARER_KINDS)]
    sessions = {} if bearer_only else None
    knames = [k[0] for k in kinds]
    kweights = [k[1] for k in kinds]
    getrandbits = rng.getrandbits
    choice = rng.choice
    randrange = rng.randrange
    expovariate = rng.expovariate
    npool = len(pool)
    pidx = run_left = 0
    rel_by_kind: dict[str, int] = {}
    recs = []
    append = recs.append
    for i in range(n):
        t = times[offsets[i]]
        if i in rel_slots:
            kind = rng.choices(knames, kweights)[0]
            rel_by_kind[kind] = rel_by_kind.get(kind, 0) + 1
            when = start + timedelta(seconds=offsets[i])     # the time `t` names
            r = make_relevant(kind, rng, acct, region, actors, when, sessions)
            append(json.dumps(r, separators=(",", ":"), ensure_ascii=False))
            continue
        if run_left > 0:
            run_left -= 1
            pidx += 1
            if pidx >= npool:
                pidx = 0
        else:
            # real logs come in bursts of similar calls: take short runs of
            # consecutive real records (mean length RUN_MEAN)
            pidx = randrange(npool)
            run_left = int(expovariate(1.0 / RUN_MEAN))
        parts, fields, rid_kind = pool[pidx]
        buf = [parts[0]]
        for j, f in enumerate(fields):
            if f == "E":
                h = "%032x" % getrandbits(128)
                buf.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
            elif f == "T":
                buf.append(t)
            elif f == "I":
                buf.append(choice(ips))
            elif f == "Q":
                al, ln = rid_kind
                if al == "uuid":
                    h = "%032x" % getrandbits(128)
                    buf.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
                else:
                    buf.append("".join(rng.choices(al, k=ln)))
            elif f == "R":
                buf.append(region)
            else:  # "A"
                buf.append(acct)
            buf.append(parts[j + 1])
        append("".join(buf))
    data = ('{"Records":[' + ",".join(recs) + "]}").encode("utf-8")
    stamp = end.strftime("%Y%m%dT%H%MZ")
    rel_dir = Path("AWSLogs") / acct / "CloudTrail" / region / end.strftime("%Y/%m/%d")
    fname = f"{acct}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
    d = Path(out) / rel_dir
    d.mkdir(parents=True, exist_ok=True)
    gz = gzip.compress(data, compresslevel=6, mtime=0)
    tmp = d / (fname + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(gz)
    os.replace(tmp, d / fname)
    return idx, str(rel_dir / fname), n, n_rel, len(data), len(gz), rel_by_kind


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (corpus root)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--datasets", default=os.environ.get("KEYTRAIL_DATASETS", DEFAULT_DATASETS),
                    help=f"real CloudTrail datasets (default {DEFAULT_DATASETS})")
    ap.add_argument("--relevant-rate", default=DEFAULT_RATE,
                    help="fraction of Bedrock-relevant events, 0 to 1 (default 0.005; 1 = every event)")
    ap.add_argument("--relevant-mix", choices=MIXES, default="all",
                    help="kinds of relevant events: all (default), or bearer (only bearer-token calls)")
    ap.add_argument("--force", action="store_true", help="regenerate even if MANIFEST.json matches")
    args = ap.parse_args()
    if args.events < 1:
        ap.error("--events must be >= 1")
    try:
        rate = Fraction(args.relevant_rate)
    except (ValueError, ZeroDivisionError):
        ap.error(f"--relevant-rate {args.relevant_rate!r}: not a number")
    if not 0 <= rate <= 1:
        ap.error(f"--relevant-rate {args.relevant_rate}: must be between 0 and 1")

    out = Path(args.out)
    manifest_path = out / "MANIFEST.json"
    params = {"generator_version": GENERATOR_VERSION, "seed": args.seed, "events": args.events,
              "relevant_rate": str(rate), "relevant_mix": args.relevant_mix}
    # manifests written before these parameters existed were made with the defaults
    defaults = {"relevant_rate": str(Fraction(DEFAULT_RATE)), "relevant_mix": "all"}
    if manifest_path.exists() and not args.force:
        try:
            m = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            m = {}
        if all(m.get(k, defaults.get(k)) == v for k, v in params.items()):
            on_disk = sum(1 for _ in (out / "AWSLogs").rglob("*.json.gz")) \
                if (out / "AWSLogs").is_dir() else 0
            if on_disk == m.get("files"):
                print(f"gen_corpus: {out} is up to date ({m['events']} events, "
                      f"{m['relevant_events']} relevant, {m['files']} files); nothing to do")
                return 0
            print(f"gen_corpus: MANIFEST matches but {on_disk} of {m.get('files')} files "
                  "are present; regenerating", file=sys.stderr)

    t0 = time.monotonic()
    # remove only what this script generates
    if manifest_path.exists():
        manifest_path.unlink()
    if (out / "AWSLogs").exists():
        shutil.rmtree(out / "AWSLogs")
    out.mkdir(parents=True, exist_ok=True)

    pool_all, pool_regional, n_real, n_excluded = build_background(Path(args.datasets))
    files, n_rel = plan(args.seed, args.events, rate)
    iprng = random.Random(f"keytrail-bench-ips/{args.seed}")
    ips = [f"{p}.{iprng.randrange(1, 255)}" for p in
           iprng.choices(["192.0.2", "198.51.100", "203.0.113"], k=1500)] + \
        [f"10.{iprng.randrange(256)}.{iprng.randrange(256)}.{iprng.randrange(1, 255)}"
         for _ in range(500)]
    state = {"seed": args.seed, "out": str(out), "pool_all": pool_all,
             "pool_regional": pool_regional, "ips": ips, "actors": make_actors(args.seed),
             "mix": args.relevant_mix}
    print(f"gen_corpus: {args.events} events ({n_rel} Bedrock-relevant) in {len(files)} files "
          f"-> {out}  [{n_real} real records, {n_excluded} Bedrock-relevant ones excluded, "
          f"{len(pool_all)} background templates, {args.workers} workers]", flush=True)

    jobs = list(enumerate(files))
    results = []
    if args.workers <= 1:
        _init_worker(state)
        results = [gen_file(j) for j in jobs]
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(args.workers, initializer=_init_worker, initargs=(state,)) as pool:
            done = 0
            for r in pool.imap_unordered(gen_file, jobs, chunksize=4):
                results.append(r)
                done += 1
                if done % 250 == 0 or done == len(jobs):
                    print(f"  {done}/{len(jobs)} files", flush=True)
    results.sort(key=lambda r: r[0])

    tot_events = sum(r[2] for r in results)
    tot_rel = sum(r[3] for r in results)
    by_kind: dict[str, int] = {}
    for r in results:
        for k, v in r[6].items():
            by_kind[k] = by_kind.get(k, 0) + v
    assert tot_events == args.events and tot_rel == n_rel, (tot_events, tot_rel)
    elapsed = time.monotonic() - t0
    manifest = {
        **params,
        "relevant_events": tot_rel,
        "relevant_by_kind": dict(sorted(by_kind.items())),
        "files": len(results),
        "total_uncompressed_bytes": sum(r[4] for r in results),
        "total_gz_bytes": sum(r[5] for r in results),
        "accounts": [a for a, _ in ACCOUNTS],
        "regions": [r for r, _ in REGIONS],
        "background": {"real_records_read": n_real, "excluded_bedrock_relevant": n_excluded,
                       "templates": len(pool_all)},
        "generation_seconds": round(elapsed, 1),
        "workers": args.workers,
    }
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    print(f"gen_corpus: done in {elapsed:.1f} s: {manifest['files']} files, "
          f"{manifest['total_uncompressed_bytes'] / 1e6:.1f} MB JSON, "
          f"{manifest['total_gz_bytes'] / 1e6:.1f} MB gzipped, {tot_rel} relevant events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
