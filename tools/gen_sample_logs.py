#!/usr/bin/env python3
"""Generate the synthetic CloudTrail corpus in sample-logs/ (deterministic).

Everything this script writes is SYNTHETIC: example account ids (111122223333,
444455556666), documentation IP ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24), and identifiers drawn from a fixed-seed PRNG. No real
credential, secret or customer record is involved.

Usage:
    python3 tools/gen_sample_logs.py [--out DIR]

Re-running reproduces byte-identical files: the PRNG seed is fixed, JSON is
written with fixed key order and separators, and gzip members are written with
mtime=0 and no embedded file name. The generated parts of the output directory
(AWSLogs/, lookup-events/, exports/, README.md) are deleted and rebuilt.

The script also computes, from the records it wrote, the expected counts the
keytrail tool should report (per activity value, Bedrock-relevant events, ...),
prints them, and writes them into sample-logs/README.md.

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import shutil
import string
import sys
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20261117
ACCT_A = "111122223333"
ACCT_B = "444455556666"
TRAIL_BUCKET = "example-org-cloudtrail-111122223333"
TRAIL_NAME = "org-trail"

rng = random.Random(SEED)

UPPER_ALNUM = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


# --------------------------------------------------------------------------
# small deterministic helpers
# --------------------------------------------------------------------------

def rand_str(n: int, alphabet: str = UPPER_ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def new_uuid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def akia() -> str:
    return "AKIA" + rand_str(16)


def asia() -> str:
    return "ASIA" + rand_str(16)


def aida() -> str:
    return "AIDA" + rand_str(17)


def aroa() -> str:
    return "AROA" + rand_str(17)


def acca() -> str:
    return "ACCA" + rand_str(17)


def s3_request_id() -> str:
    return rand_str(16)


def amz_id_2() -> str:
    return rand_str(76, ALNUM + "+/") + "="


def T(s: str) -> datetime:
    """Parse 'YYYY-MM-DD HH:MM:SS' as UTC."""
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_date(dt: datetime) -> str:
    """IAM's console-style date, e.g. 'Nov 17, 2026, 9:14:03 AM'."""
    h12 = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    return f"{dt:%b} {dt.day}, {dt.year}, {h12}:{dt:%M:%S} {ampm}"


# --------------------------------------------------------------------------
# user agents, IPs, models
# --------------------------------------------------------------------------

UA_CLI = ("aws-cli/2.22.35 md/awscrt#0.23.4 ua/2.0 os/linux#6.8.0-1019-aws md/arch#x86_64 "
          "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
          "md/distrib#ubuntu.24 md/prompt#off md/command#{cmd}")
UA_CONSOLE = ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
UA_BOTO3 = ("Boto3/1.39.3 md/Botocore#1.39.3 ua/2.1 os/linux#6.8.0-1021-aws md/arch#x86_64 "
            "lang/python#3.12.3 md/pyimpl#CPython m/b,Z cfg/retry-mode#legacy Botocore/1.39.3")
UA_BOTO3_MAC = ("Boto3/1.38.41 md/Botocore#1.38.41 ua/2.1 os/macos#24.5.0 md/arch#arm64 "
                "lang/python#3.13.5 md/pyimpl#CPython m/b,Z cfg/retry-mode#legacy Botocore/1.38.41")
UA_TERRAFORM = ("APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) "
                "terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
                "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 "
                "api/{api}#1.0")
UA_JS = ("aws-sdk-js/3.716.0 ua/2.1 os/linux#6.8.0 lang/js md/nodejs#20.18.1 "
         "api/bedrock-runtime#3.716.0 m/E")
UA_CURL = "curl/8.5.0"
UA_PY_REQUESTS = "python-requests/2.32.3"
UA_AIOHTTP = "Python/3.12 aiohttp/3.10.11"
UA_OPENAI = "OpenAI/Python 1.97.0"
UA_ANTHROPIC = "Anthropic/Python 0.64.0"
UA_BEDROCK_IN_EC2 = ("Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.0 md/arch#x86_64 "
                     "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36 "
                     "bedrock-inventory-scanner/0.4.1")

IP_ALICE = "192.0.2.25"
IP_CI = "192.0.2.10"
IP_AUDITOR = "192.0.2.30"
IP_APP_A = "192.0.2.50"
IP_APP_B = "192.0.2.51"
IP_X7K2_HOME = "203.0.113.45"
IP_X7K2_OTHER = "198.51.100.23"
IP_MALLORY = "203.0.113.77"
IP_DSCI = "198.51.100.80"
IP_PIPELINE = "192.0.2.60"
IP_B_OPS = "198.51.100.120"
IP_B_APP = "192.0.2.200"
IP_B_M3N4 = "203.0.113.9"
IP_B_M3N4_2 = "198.51.100.141"
IP_SUMMARIZER = "192.0.2.70"
IP_THIEF = "203.0.113.201"
IP_JACKER = "198.51.100.66"

M_CLAUDE35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
M_NOVA = "amazon.nova-pro-v1:0"
M_SONNET4_US = "us.anthropic.claude-sonnet-4-20250514-v1:0"
M_SONNET4_EU = "eu.anthropic.claude-sonnet-4-20250514-v1:0"
M_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


# --------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------

class IamUser:
    def __init__(self, account: str, name: str, access_key: bool = True):
        self.account = account
        self.name = name
        self.principal_id = aida()
        self.key = akia() if access_key else None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"

    def ident(self, *, with_key: bool = True, console_key: str | None = None,
              console_created: datetime | None = None) -> dict:
        d = OrderedDict()
        d["type"] = "IAMUser"
        d["principalId"] = self.principal_id
        d["arn"] = self.arn
        d["accountId"] = self.account
        if console_key:
            d["accessKeyId"] = console_key
        elif with_key and self.key:
            d["accessKeyId"] = self.key
        d["userName"] = self.name
        if console_key:
            d["sessionContext"] = {
                "sessionIssuer": {},
                "webIdFederationData": {},
                "attributes": {"creationDate": iso(console_created), "mfaAuthenticated": "false"},
            }
        return d


class Role:
    def __init__(self, account: str, name: str):
        self.account = account
        self.name = name
        self.role_id = aroa()
        self._sessions: dict = {}

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.name}"

    def session(self, session_name: str, created: datetime) -> "Session":
        k = (session_name, created)
        if k not in self._sessions:
            self._sessions[k] = Session(self, session_name, created, asia())
        return self._sessions[k]


@dataclass
class Session:
    role: Role
    name: str
    created: datetime
    key: str

    def ident(self) -> dict:
        r = self.role
        return OrderedDict([
            ("type", "AssumedRole"),
            ("principalId", f"{r.role_id}:{self.name}"),
            ("arn", f"arn:aws:sts::{r.account}:assumed-role/{r.name}/{self.name}"),
            ("accountId", r.account),
            ("accessKeyId", self.key),
            ("sessionContext", OrderedDict([
                ("sessionIssuer", OrderedDict([
                    ("type", "Role"),
                    ("principalId", r.role_id),
                    ("arn", r.arn),
                    ("accountId", r.account),
                    ("userName", r.name),
                ])),
                ("webIdFederationData", {}),
                ("attributes", OrderedDict([
                    ("creationDate", iso(self.created)),
                    ("mfaAuthenticated", "false"),
                ])),
            ])),
        ])


def service_ident(service: str) -> dict:
    return OrderedDict([("type", "AWSService"), ("invokedBy", service)])


# --------------------------------------------------------------------------
# event construction
# --------------------------------------------------------------------------

@dataclass
class Ev:
    rec: dict                  # the CloudTrail record, exactly as written
    dest: str                  # "s3" | "lookup" | "ndjson"
    expect: str | None         # the activity value this event is crafted to exercise
    tag: str = ""              # scenario label (documentation / self-checks)
    time: datetime = field(default=None)


EVENTS: list[Ev] = []


def host_for(source: str, region: str, bucket: str | None = None) -> str:
    if source == "iam.amazonaws.com":
        return "iam.amazonaws.com"
    if source == "bedrock-mantle.amazonaws.com":
        return f"bedrock-mantle.{region}.api.aws"
    if source == "s3.amazonaws.com":
        return f"{bucket}.s3.{region}.amazonaws.com" if bucket else f"s3.{region}.amazonaws.com"
    svc = source.split(".")[0]
    return f"{svc}.{region}.amazonaws.com"


def emit(*, dest: str, account: str, time: datetime, source: str, name: str, region: str,
         ident: dict, ip: str, ua: str, req=None, resp=None, error: tuple[str, str] | None = None,
         add: dict | None = None, read_only: bool = False, category: str = "Management",
         version: str = "1.08", resources: list | None = None, host: str | None = None,
         request_id: str | None = None, tls: bool = True, extra: dict | None = None,
         expect: str | None = None, tag: str = "") -> dict:
    r = OrderedDict()
    r["eventVersion"] = version
    r["userIdentity"] = ident
    r["eventTime"] = iso(time)
    r["eventSource"] = source
    r["eventName"] = name
    r["awsRegion"] = region
    r["sourceIPAddress"] = ip
    r["userAgent"] = ua
    if error:
        r["errorCode"], r["errorMessage"] = error
    r["requestParameters"] = req
    r["responseElements"] = None if error else resp
    if add is not None:
        r["additionalEventData"] = add
    r["requestID"] = request_id or new_uuid()
    r["eventID"] = new_uuid()
    r["readOnly"] = read_only
    if resources is not None:
        r["resources"] = resources
    r["eventType"] = "AwsApiCall"
    r["managementEvent"] = category == "Management"
    r["recipientAccountId"] = account
    r["eventCategory"] = category
    if tls:
        r["tlsDetails"] = OrderedDict([
            ("tlsVersion", "TLSv1.3"),
            ("cipherSuite", "TLS_AES_128_GCM_SHA256"),
            ("clientProvidedHostHeader", host or host_for(source, region)),
        ])
    if extra:
        r.update(extra)
    EVENTS.append(Ev(rec=r, dest=dest, expect=expect, tag=tag, time=time))
    return r


# ---- IAM helpers ---------------------------------------------------------

def iam(dest, account, time, name, actor_ident, ip, ua, req, resp=None, *, error=None,
        read_only=False, expect=None, tag="", extra=None):
    return emit(dest=dest, account=account, time=time, source="iam.amazonaws.com", name=name,
                region="us-east-1", ident=actor_ident, ip=ip, ua=ua, req=req, resp=resp,
                error=error, read_only=read_only, expect=expect, tag=tag, extra=extra)


def create_user(dest, account, time, actor_ident, ip, ua, user: IamUser, tag=""):
    return iam(dest, account, time, "CreateUser", actor_ident, ip, ua,
               OrderedDict([("userName", user.name)]),
               {"user": OrderedDict([
                   ("path", "/"), ("userName", user.name), ("userId", user.principal_id),
                   ("arn", user.arn), ("createDate", iam_date(time))])},
               tag=tag)


def ssc_create(dest, account, time, actor_ident, ip, ua, *, user: str, service: str,
               cred_id: str | None, age_days: int | None = None, date_style: str = "iso",
               alias: bool = False, error=None, expect=None, tag=""):
    req = OrderedDict([("userName", user), ("serviceName", service)])
    if age_days is not None:
        req["credentialAgeDays"] = age_days
    resp = None
    if not error:
        fmt = iam_date if date_style == "iam" else iso
        c = OrderedDict()
        c["createDate"] = fmt(time)
        if age_days is not None:
            c["expirationDate"] = fmt(time + timedelta(days=age_days))
        c["serviceName"] = service
        c["serviceUserName"] = f"{user}-at-{account}"
        if alias:
            c["serviceCredentialAlias"] = f"{user}-at-{account}"
        c["serviceSpecificCredentialId"] = cred_id
        c["userName"] = user
        c["status"] = "Active"
        resp = {"serviceSpecificCredential": c}
    return iam(dest, account, time, "CreateServiceSpecificCredential", actor_ident, ip, ua, req, resp,
               error=error, expect=expect, tag=tag)


def ssc_change(dest, account, time, name, actor_ident, ip, ua, *, user: str, cred_id: str,
               status: str | None = None, reset_service: tuple[str, datetime] | None = None,
               expect=None, tag=""):
    req = OrderedDict([("userName", user), ("serviceSpecificCredentialId", cred_id)])
    if status:
        req["status"] = status
    resp = None
    if reset_service:
        svc, created = reset_service
        resp = {"serviceSpecificCredential": OrderedDict([
            ("createDate", iso(created)),
            ("serviceName", svc),
            ("serviceUserName", f"{user}-at-{account}"),
            ("serviceSpecificCredentialId", cred_id),
            ("userName", user),
            ("status", "Active"),
        ])}
    return iam(dest, account, time, name, actor_ident, ip, ua, req, resp, expect=expect, tag=tag)


# ---- Bedrock helpers -----------------------------------------------------

RUNTIME_OPS = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}


def bedrock(dest, account, time, name, ident, ip, ua, region, *, model=None, bearer=True,
            bearer_value=True, error=None, expect=None, tag="", extra_add=None, req=None):
    if req is None:
        req = OrderedDict([("modelId", model)]) if model else None
    add = None
    if bearer:
        add = OrderedDict([("callWithBearerToken", bearer_value)])
    if extra_add:
        add = add or OrderedDict()
        add.update(extra_add)
    if model and model[:3] in ("us.", "eu.") and not error:
        add = add or OrderedDict()
        add["inferenceRegion"] = {"us.": "us-east-2", "eu.": "eu-west-1"}[model[:3]]
    runtime = name in RUNTIME_OPS
    host = (f"bedrock-runtime.{region}.amazonaws.com" if runtime
            else f"bedrock.{region}.amazonaws.com")
    return emit(dest=dest, account=account, time=time, source="bedrock.amazonaws.com", name=name,
                region=region, ident=ident, ip=ip, ua=ua, req=req, resp=None, error=error,
                add=add, read_only=True, version="1.09", host=host, expect=expect, tag=tag)


def mantle(dest, account, time, name, ident, ip, ua, region, *, model, token_type,
           expect=None, tag=""):
    req = OrderedDict([
        ("callWithBearerToken", True),
        ("bearerTokenType", token_type),
        ("model", model),
        ("stream", False),
    ])
    return emit(dest=dest, account=account, time=time, source="bedrock-mantle.amazonaws.com",
                name=name, region=region, ident=ident, ip=ip, ua=ua, req=req, resp=None,
                read_only=False, category="Data", version="1.09", expect=expect, tag=tag,
                resources=[OrderedDict([
                    ("accountId", account),
                    ("type", "AWS::Bedrock::Model"),
                    ("ARN", f"arn:aws:bedrock:{region}::foundation-model/{model}"),
                ])])


def denied_model_access() -> tuple[str, str]:
    return ("AccessDeniedException", "You don't have access to the model with the specified model ID.")


# ---- noise helpers -------------------------------------------------------

def s3_data(dest, account, time, name, ident, ip, ua, region, bucket, key, *, read_only=True, tag=""):
    req = OrderedDict([("bucketName", bucket), ("Host", f"{bucket}.s3.{region}.amazonaws.com"),
                       ("key", key)])
    add = OrderedDict([
        ("SignatureVersion", "SigV4"),
        ("CipherSuite", "TLS_AES_128_GCM_SHA256"),
        ("bytesTransferredIn", 0 if read_only else rng.randint(200, 90000)),
        ("AuthenticationMethod", "AuthHeader"),
        ("x-amz-id-2", amz_id_2()),
        ("bytesTransferredOut", rng.randint(200, 90000) if read_only else 0),
    ])
    resp = None if read_only else OrderedDict([("x-amz-server-side-encryption", "AES256")])
    return emit(dest=dest, account=account, time=time, source="s3.amazonaws.com", name=name,
                region=region, ident=ident, ip=ip, ua=ua, req=req, resp=resp, add=add,
                read_only=read_only, category="Data", version="1.09",
                host=f"{bucket}.s3.{region}.amazonaws.com", request_id=s3_request_id(),
                resources=[
                    OrderedDict([("type", "AWS::S3::Object"), ("ARN", f"arn:aws:s3:::{bucket}/{key}")]),
                    OrderedDict([("accountId", account), ("type", "AWS::S3::Bucket"),
                                 ("ARN", f"arn:aws:s3:::{bucket}")]),
                ], tag=tag)


# --------------------------------------------------------------------------
# principals
# --------------------------------------------------------------------------

alice = IamUser(ACCT_A, "alice")
ci_bot = IamUser(ACCT_A, "ci-bot")
mallory = IamUser(ACCT_A, "mallory")
x7k2 = IamUser(ACCT_A, "BedrockAPIKey-x7k2", access_key=False)
q9zp = IamUser(ACCT_A, "BedrockAPIKey-q9zp", access_key=False)
app_role = Role(ACCT_A, "bedrock-app-role")
dsci_role = Role(ACCT_A, "data-science")
pipeline_role = Role(ACCT_A, "ml-pipeline-role")
auditor_role = Role(ACCT_A, "ReadOnlyAuditor")

ops_b = IamUser(ACCT_B, "ops-admin")
m3n4 = IamUser(ACCT_B, "BedrockAPIKey-m3n4", access_key=False)
support_role = Role(ACCT_B, "support-bot-role")

CRED_X7K2 = "ACCAEXAMPLEQ4RTV9X7K2"
CRED_CI = acca()
CRED_Q9ZP = acca()
CRED_CODECOMMIT = acca()
CRED_CASSANDRA = acca()
CRED_ANTHROPIC = acca()
CRED_LEGACY = acca()          # never appears in any create event
CRED_M3N4 = acca()

alice_cli = lambda cmd: UA_CLI.format(cmd=cmd)  # noqa: E731


# --------------------------------------------------------------------------
# scenario, account 111122223333 (S3 delivery files)
# --------------------------------------------------------------------------

def scenario_account_a():
    S = "s3"
    A = ACCT_A
    ai = alice.ident()

    # -- 2. ci-bot: Bedrock key for itself, no expiry (2026-11-16) --------
    ssc_create(S, A, T("2026-11-16 14:05:12"), ci_bot.ident(), IP_CI,
               UA_TERRAFORM.format(api="iam"), user="ci-bot", service="bedrock.amazonaws.com",
               cred_id=CRED_CI, expect="key_created", tag="ci-bot: create, never expires")
    ci_ident = ci_bot.ident(with_key=False)
    for t, op, model in [("2026-11-16 14:20:41", "InvokeModel", M_CLAUDE35),
                         ("2026-11-17 08:10:05", "InvokeModel", M_CLAUDE35),
                         ("2026-11-17 16:30:17", "Converse", M_HAIKU),
                         ("2026-11-18 12:00:33", "InvokeModel", M_CLAUDE35)]:
        bedrock(S, A, T(t), op, ci_ident, IP_CI, UA_BOTO3, "us-east-1", model=model,
                expect="bearer_long_term", tag="ci-bot: bearer call")
    ssc_change(S, A, T("2026-11-18 09:02:44"), "ResetServiceSpecificCredential", ai, IP_ALICE,
               alice_cli("iam.reset-service-specific-credential"), user="ci-bot", cred_id=CRED_CI,
               reset_service=("bedrock.amazonaws.com", T("2026-11-16 14:05:12")),
               expect="key_reset", tag="alice resets ci-bot key")
    ssc_change(S, A, T("2026-11-20 10:00:00"), "DeleteServiceSpecificCredential", ai, IP_ALICE,
               alice_cli("iam.delete-service-specific-credential"), user="ci-bot", cred_id=CRED_CI,
               expect="key_deleted", tag="alice deletes ci-bot key")
    bedrock(S, A, T("2026-11-20 11:00:00"), "InvokeModel", ci_ident, IP_CI, UA_BOTO3, "us-east-1",
            model=M_CLAUDE35, expect="bearer_long_term", tag="ci-bot: bearer call AFTER deletion")

    # -- negatives: non-Bedrock service-specific credentials --------------
    ssc_create(S, A, T("2026-11-16 10:31:09"), ai, IP_ALICE,
               alice_cli("iam.create-service-specific-credential"), user="alice",
               service="codecommit.amazonaws.com", cred_id=CRED_CODECOMMIT,
               expect=None, tag="negative: CodeCommit credential")
    ssc_create(S, A, T("2026-11-17 13:02:50"), ai, IP_ALICE,
               alice_cli("iam.create-service-specific-credential"), user="keyspaces-loader",
               service="cassandra.amazonaws.com", cred_id=CRED_CASSANDRA,
               expect=None, tag="negative: Keyspaces credential")
    ssc_create(S, A, T("2026-11-18 11:30:27"), ai, IP_ALICE,
               alice_cli("iam.create-service-specific-credential"), user="claude-platform-svc",
               service="aws-external-anthropic.amazonaws.com", cred_id=CRED_ANTHROPIC, age_days=90,
               expect=None, tag="negative: Claude Platform credential")
    ssc_change(S, A, T("2026-11-19 10:00:12"), "UpdateServiceSpecificCredential", ai, IP_ALICE,
               alice_cli("iam.update-service-specific-credential"), user="alice",
               cred_id=CRED_CODECOMMIT, status="Inactive",
               expect=None, tag="negative: deactivate the CodeCommit credential")

    # -- 1. console key flow: alice creates BedrockAPIKey-x7k2 (2026-11-17)
    create_user(S, A, T("2026-11-17 09:13:58"), ai, IP_ALICE, UA_CONSOLE, x7k2,
                tag="console flow: CreateUser")
    iam(S, A, T("2026-11-17 09:14:01"), "AttachUserPolicy", ai, IP_ALICE, UA_CONSOLE,
        OrderedDict([("userName", x7k2.name),
                     ("policyArn", "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess")]),
        tag="console flow: AttachUserPolicy AmazonBedrockLimitedAccess")
    ssc_create(S, A, T("2026-11-17 09:14:03"), ai, IP_ALICE, UA_CONSOLE, user=x7k2.name,
               service="bedrock.amazonaws.com", cred_id=CRED_X7K2, age_days=30, date_style="iam",
               alias=True, expect="key_created", tag="console flow: 30-day Bedrock key")

    xi = x7k2.ident(with_key=False)
    H, O = IP_X7K2_HOME, IP_X7K2_OTHER
    calls = [
        # time, op, ip, ua, region, model, error
        ("2026-11-17 09:30:12", "InvokeModel", H, UA_BOTO3_MAC, "us-east-1", M_CLAUDE35, None),
        ("2026-11-17 09:31:40", "ListFoundationModels", H, UA_BOTO3_MAC, "us-east-1", None, None),
        ("2026-11-17 11:02:07", "Converse", H, UA_BOTO3_MAC, "us-east-1", M_CLAUDE35, None),
        ("2026-11-17 15:44:29", "InvokeModel", H, UA_BOTO3_MAC, "us-west-2", M_NOVA, denied_model_access()),
        ("2026-11-18 02:11:03", "InvokeModel", O, UA_CURL, "us-west-2", M_CLAUDE35, None),
        ("2026-11-18 02:12:18", "InvokeModel", O, UA_JS, "us-west-2", M_NOVA, denied_model_access()),
        ("2026-11-18 02:15:55", "InvokeModelWithResponseStream", O, UA_JS, "us-west-2", M_CLAUDE35, None),
        ("2026-11-18 10:20:31", "Converse", H, UA_BOTO3_MAC, "us-east-1", M_CLAUDE35, None),
        ("2026-11-18 10:21:02", "ConverseStream", H, UA_BOTO3_MAC, "us-east-1", M_CLAUDE35, None),
        ("2026-11-19 08:05:44", "InvokeModel", H, UA_BOTO3_MAC, "us-east-1", M_CLAUDE35, None),
        ("2026-11-19 08:07:19", "Converse", H, UA_BOTO3_MAC, "us-east-1", M_NOVA, None),
        ("2026-11-19 12:30:51", "InvokeModel", O, UA_JS, "us-west-2", M_CLAUDE35, None),
    ]
    for t, op, ip, ua, region, model, err in calls:
        bedrock(S, A, T(t), op, xi, ip, ua, region, model=model, error=err,
                expect="bearer_long_term", tag="x7k2: bearer call")

    ssc_change(S, A, T("2026-11-19 14:00:00"), "UpdateServiceSpecificCredential", ai, IP_ALICE,
               alice_cli("iam.update-service-specific-credential"), user=x7k2.name,
               cred_id=CRED_X7K2, status="Inactive",
               expect="key_status_changed", tag="alice deactivates x7k2 key")
    bedrock(S, A, T("2026-11-19 18:22:36"), "InvokeModel", xi, O, UA_CURL, "us-west-2",
            model=M_CLAUDE35,
            error=("AccessDeniedException", "Authentication failed: the API key used in the request is inactive."),
            expect="bearer_long_term", tag="x7k2: bearer call AFTER deactivation (denied)")
    bedrock(S, A, T("2026-11-20 03:10:09"), "Converse", xi, O, UA_JS, "us-east-1",
            model=M_CLAUDE35, expect="bearer_long_term",
            tag="x7k2: bearer call AFTER deactivation")

    # -- 3. mallory and the phantom user BedrockAPIKey-q9zp (2026-11-18) --
    mi = mallory.ident()
    mua = UA_CLI.format(cmd="iam.{}")
    create_user(S, A, T("2026-11-18 21:40:02"), mi, IP_MALLORY, mua.format("create-user"), q9zp,
                tag="mallory: CreateUser BedrockAPIKey-q9zp")
    ssc_create(S, A, T("2026-11-18 21:41:15"), mi, IP_MALLORY,
               mua.format("create-service-specific-credential"), user=q9zp.name,
               service="bedrock.amazonaws.com", cred_id=CRED_Q9ZP, age_days=365,
               expect="key_created", tag="mallory: 365-day Bedrock key")
    policy = ('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Sid": "AllowBearer",\n'
              '      "Effect": "Allow",\n      "Action": [\n        "bedrock:CallWithBearerToken",\n'
              '        "bedrock:InvokeModel*",\n        "bedrock:Converse*",\n'
              '        "bedrock:ListFoundationModels"\n      ],\n      "Resource": "*"\n    }\n  ]\n}')
    iam(S, A, T("2026-11-18 21:43:37"), "PutUserPolicy", mi, IP_MALLORY, mua.format("put-user-policy"),
        OrderedDict([("userName", q9zp.name), ("policyName", "bedrock-bearer"),
                     ("policyDocument", policy)]),
        tag="mallory: inline policy granting bedrock:CallWithBearerToken")
    ssc_create(S, A, T("2026-11-18 21:46:50"), mi, IP_MALLORY,
               mua.format("create-service-specific-credential"), user=q9zp.name,
               service="bedrock.amazonaws.com", cred_id=None, age_days=365,
               error=("AccessDenied",
                      f"User: {mallory.arn} is not authorized to perform: "
                      f"iam:CreateServiceSpecificCredential on resource: user {q9zp.name} "
                      "with an explicit deny in a service control policy"),
               expect="key_create_failed", tag="mallory: second key attempt denied")
    iam(S, A, T("2026-11-18 21:50:12"), "CreateLoginProfile", mi, IP_MALLORY,
        mua.format("create-login-profile"),
        OrderedDict([("userName", q9zp.name), ("passwordResetRequired", False)]),
        {"loginProfile": OrderedDict([("userName", q9zp.name),
                                      ("createDate", iam_date(T("2026-11-18 21:50:12"))),
                                      ("passwordResetRequired", False)])},
        tag="mallory: console password for the phantom user")
    qi = q9zp.ident(with_key=False)
    bedrock(S, A, T("2026-11-18 22:05:31"), "Converse", qi, IP_MALLORY, UA_AIOHTTP, "eu-central-1",
            model=M_SONNET4_EU, expect="bearer_long_term", tag="q9zp: bearer call")
    bedrock(S, A, T("2026-11-18 22:06:02"), "InvokeModel", qi, IP_MALLORY, UA_AIOHTTP, "eu-central-1",
            model=M_SONNET4_EU, expect="bearer_long_term", tag="q9zp: bearer call")
    mantle(S, A, T("2026-11-18 22:09:47"), "CreateChatCompletion", qi, IP_MALLORY, UA_OPENAI,
           "eu-central-1", model="openai.gpt-oss-120b", token_type="ABSK",
           expect="bearer_long_term", tag="q9zp: bedrock-mantle call, bearerTokenType ABSK")
    q_console = asia()
    iam(S, A, T("2026-11-19 00:30:41"), "CreateAccessKey",
        q9zp.ident(console_key=q_console, console_created=T("2026-11-19 00:28:10")),
        IP_MALLORY, UA_CONSOLE, OrderedDict([("userName", q9zp.name)]),
        {"accessKey": OrderedDict([("accessKeyId", akia()), ("status", "Active"),
                                   ("userName", q9zp.name),
                                   ("createDate", iam_date(T("2026-11-19 00:30:41")))])},
        extra={"sessionCredentialFromConsole": "true"},
        tag="phantom user BedrockAPIKey-q9zp creates an access key")

    # -- 4. short-term keys ----------------------------------------------
    s1 = app_role.session("app-session", T("2026-11-18 08:55:03"))
    s2 = app_role.session("app-session", T("2026-11-19 07:58:40"))
    app_calls = [
        (s1, "2026-11-18 09:01:22", "Converse", IP_APP_A, "us-east-1", M_SONNET4_US, None),
        (s1, "2026-11-18 09:47:10", "Converse", IP_APP_A, "us-east-1", M_SONNET4_US, None),
        (s1, "2026-11-18 11:12:54", "ConverseStream", IP_APP_B, "us-east-1", M_SONNET4_US, None),
        (s1, "2026-11-18 14:03:09", "Converse", IP_APP_A, "eu-central-1", M_SONNET4_EU, None),
        (s1, "2026-11-18 14:30:45", "InvokeModel", IP_APP_B, "eu-central-1", M_SONNET4_EU, None),
        (s2, "2026-11-19 08:15:33", "Converse", IP_APP_A, "eu-central-1", M_SONNET4_EU,
         ("AccessDeniedException",
          f"User: arn:aws:sts::{A}:assumed-role/bedrock-app-role/app-session is not authorized to "
          f"perform: bedrock:InvokeModel on resource: arn:aws:bedrock:eu-central-1:{A}:"
          f"inference-profile/{M_SONNET4_EU} with an explicit deny in an identity-based policy")),
        (s2, "2026-11-19 09:02:18", "Converse", IP_APP_A, "us-east-1", M_SONNET4_US, None),
    ]
    for sess, t, op, ip, region, model, err in app_calls:
        bedrock(S, A, T(t), op, sess.ident(), ip, UA_JS, region, model=model, error=err,
                expect="bearer_short_term", tag="bedrock-app-role: short-term bearer call")
    mantle(S, A, T("2026-11-19 09:20:05"), "CreateMessage", s2.ident(), IP_APP_B, UA_ANTHROPIC,
           "us-east-1", model="anthropic.claude-sonnet-4-5", token_type="SHORT_TERM",
           expect="bearer_short_term", tag="bedrock-app-role: bedrock-mantle call, SHORT_TERM")

    ds = dsci_role.session("jkim-notebook", T("2026-11-18 15:00:12"))
    for t, model in [("2026-11-18 15:10:44", M_CLAUDE35), ("2026-11-18 15:12:03", M_CLAUDE35),
                     ("2026-11-18 15:40:29", M_HAIKU)]:
        bedrock(S, A, T(t), "InvokeModel", ds.ident(), IP_DSCI, UA_PY_REQUESTS, "us-west-2",
                model=model, expect="bearer_short_term",
                tag="data-science: short-term token via python-requests")

    # -- 5. unattributed change --------------------------------------------
    ssc_change(S, A, T("2026-11-19 16:00:27"), "UpdateServiceSpecificCredential", ai, IP_ALICE,
               alice_cli("iam.update-service-specific-credential"), user="legacy-svc",
               cred_id=CRED_LEGACY, status="Inactive",
               expect=None, tag="unattributed: credential change on legacy-svc (service unknown)")

    # -- negatives: SigV4 Bedrock, look-alike strings ----------------------
    ps = pipeline_role.session("batch-20261118", T("2026-11-18 05:58:00"))
    bedrock(S, A, T("2026-11-18 06:02:14"), "ListFoundationModels", ps.ident(), IP_PIPELINE,
            UA_BOTO3, "us-east-1", bearer=False, req=OrderedDict([("byOutputModality", "TEXT")]),
            expect=None, tag="negative: SigV4 ListFoundationModels")
    bedrock(S, A, T("2026-11-18 06:03:40"), "InvokeModel", ps.ident(), IP_PIPELINE, UA_BOTO3,
            "us-east-1", model=M_HAIKU, bearer=False, expect=None, tag="negative: SigV4 InvokeModel")
    bedrock(S, A, T("2026-11-18 06:05:01"), "InvokeModel", ps.ident(), IP_PIPELINE, UA_BOTO3,
            "us-east-1", model=M_HAIKU, bearer=True, bearer_value=False, expect=None,
            tag="negative: callWithBearerToken false")
    s3_data(S, A, T("2026-11-19 11:14:26"), "GetObject", alice.ident(), IP_ALICE,
            "[aws-cli/2.22.35]", "us-east-1", "example-team-notes-111122223333",
            "notes/callWithBearerToken.txt", tag="negative: S3 key mentions callWithBearerToken")
    aus = auditor_role.session("inventory", T("2026-11-19 07:00:00"))
    emit(dest=S, account=A, time=T("2026-11-19 07:03:51"), source="ec2.amazonaws.com",
         name="DescribeInstances", region="us-west-2", ident=aus.ident(), ip=IP_AUDITOR,
         ua=UA_BEDROCK_IN_EC2,
         req=OrderedDict([("instancesSet", {}), ("filterSet", {})]), read_only=True,
         tag="negative: userAgent mentions bedrock")


# --------------------------------------------------------------------------
# background noise, account 111122223333
# --------------------------------------------------------------------------

NOISE_PLAN = [
    # (region, date, count)
    ("us-east-1", "2026-11-16", 12),
    ("us-east-1", "2026-11-17", 12),
    ("us-east-1", "2026-11-18", 11),
    ("us-east-1", "2026-11-19", 11),
    ("us-east-1", "2026-11-20", 8),
    ("us-west-2", "2026-11-17", 9),
    ("us-west-2", "2026-11-18", 9),
    ("us-west-2", "2026-11-19", 9),
    ("eu-central-1", "2026-11-17", 7),
    ("eu-central-1", "2026-11-18", 8),
    ("eu-central-1", "2026-11-19", 8),
]

BUCKETS = {
    "us-east-1": "example-app-artifacts-111122223333",
    "us-west-2": "example-ml-datasets-111122223333",
    "eu-central-1": "example-eu-reports-111122223333",
}


def noise_identity(t: datetime):
    """Pick a background principal; returns (ident, ip, ua, who)."""
    who = rng.choice(["alice", "ci-bot", "auditor", "auditor", "service"])
    if who == "alice":
        return alice.ident(), IP_ALICE, None, who
    if who == "ci-bot":
        return ci_bot.ident(), IP_CI, None, who
    if who == "auditor":
        block = t.replace(hour=(t.hour // 6) * 6, minute=0, second=0) - timedelta(minutes=3)
        return auditor_role.session("inventory", block).ident(), IP_AUDITOR, None, who
    return service_ident("ec2.amazonaws.com"), "ec2.amazonaws.com", "ec2.amazonaws.com", who


def ua_for(who: str, cmd: str, api: str) -> str:
    if who == "alice":
        return UA_CLI.format(cmd=cmd)
    if who == "ci-bot":
        return UA_TERRAFORM.format(api=api)
    return UA_BOTO3


def noise_event(region: str, t: datetime):
    ident, ip, svc_ua, who = noise_identity(t)
    A = ACCT_A
    if who == "service":
        role = rng.choice(["ec2-ssm-instance-role", "app-server-role"])
        sess = "i-0" + rand_str(16, "0123456789abcdef")
        return emit(dest="s3", account=A, time=t, source="sts.amazonaws.com", name="AssumeRole",
                    region=region, ident=ident, ip=ip, ua=svc_ua,
                    req=OrderedDict([("roleArn", f"arn:aws:iam::{A}:role/{role}"),
                                     ("roleSessionName", sess)]),
                    resp=OrderedDict([
                        ("credentials", OrderedDict([
                            ("accessKeyId", asia()),
                            ("expiration", iam_date(t + timedelta(hours=6)))])),
                        ("assumedRoleUser", OrderedDict([
                            ("assumedRoleId", f"{aroa()}:{sess}"),
                            ("arn", f"arn:aws:sts::{A}:assumed-role/{role}/{sess}")]))]),
                    read_only=True, tls=False, tag="noise",
                    resources=[OrderedDict([("accountId", A), ("type", "AWS::IAM::Role"),
                                            ("ARN", f"arn:aws:iam::{A}:role/{role}")])])
    choices = ["ec2", "ec2", "ec2", "sts", "s3"]
    if region == "us-east-1":
        choices += ["iam", "iam", "iam"]
    kind = rng.choice(choices)
    if kind == "ec2":
        name, req = rng.choice([
            ("DescribeInstances", OrderedDict([("instancesSet", {}), ("filterSet", {})])),
            ("DescribeSecurityGroups", OrderedDict([("securityGroupSet", {}), ("securityGroupIdSet", {}),
                                                    ("filterSet", {})])),
            ("DescribeVolumes", OrderedDict([("volumeSet", {}), ("filterSet", {})])),
            ("DescribeSubnets", OrderedDict([("subnetSet", {}), ("filterSet", {})])),
            ("DescribeRegions", OrderedDict([("regionSet", {})])),
        ])
        return emit(dest="s3", account=A, time=t, source="ec2.amazonaws.com", name=name, region=region,
                    ident=ident, ip=ip, ua=ua_for(who, "ec2." + name.lower(), "ec2"), req=req,
                    read_only=True, tag="noise")
    if kind == "sts":
        return emit(dest="s3", account=A, time=t, source="sts.amazonaws.com", name="GetCallerIdentity",
                    region=region, ident=ident, ip=ip, ua=ua_for(who, "sts.get-caller-identity", "sts"),
                    req=None, read_only=True, tag="noise")
    if kind == "s3":
        bucket = BUCKETS[region]
        if rng.random() < 0.6:
            key = rng.choice(["builds/app-1.4.2.tar.gz", "reports/2026-11/daily.csv",
                              "datasets/train/part-00017.parquet", "config/app.yaml"])
            return s3_data("s3", A, t, "GetObject", ident, ip, ua_for(who, "s3.cp", "s3"), region,
                           bucket, key, tag="noise")
        return emit(dest="s3", account=A, time=t, source="s3.amazonaws.com", name="GetBucketLocation",
                    region=region, ident=ident, ip=ip, ua=ua_for(who, "s3api.get-bucket-location", "s3"),
                    req=OrderedDict([("bucketName", bucket), ("Host", f"{bucket}.s3.{region}.amazonaws.com"),
                                     ("location", "")]),
                    read_only=True, version="1.09", request_id=s3_request_id(),
                    host=f"{bucket}.s3.{region}.amazonaws.com",
                    add=OrderedDict([("SignatureVersion", "SigV4"), ("CipherSuite", "TLS_AES_128_GCM_SHA256"),
                                     ("bytesTransferredIn", 0), ("AuthenticationMethod", "AuthHeader"),
                                     ("x-amz-id-2", amz_id_2()), ("bytesTransferredOut", 137)]),
                    resources=[OrderedDict([("accountId", A), ("type", "AWS::S3::Bucket"),
                                            ("ARN", f"arn:aws:s3:::{bucket}")])],
                    tag="noise")
    # iam
    name, req = rng.choice([
        ("ListUsers", None),
        ("GetUser", OrderedDict([("userName", "alice")])),
        ("ListRoles", None),
        ("GetRole", OrderedDict([("roleName", "app-server-role")])),
        ("ListAttachedRolePolicies", OrderedDict([("roleName", "app-server-role")])),
        ("ListAccessKeys", OrderedDict([("userName", "ci-bot")])),
        ("GetAccountSummary", None),
    ])
    return emit(dest="s3", account=A, time=t, source="iam.amazonaws.com", name=name, region="us-east-1",
                ident=ident, ip=ip, ua=ua_for(who, "iam." + name.lower(), "iam"), req=req,
                read_only=True, tag="noise")


def noise_account_a():
    for region, date, n in NOISE_PLAN:
        day = T(date + " 00:00:00")
        secs = sorted(rng.randint(6 * 3600, 23 * 3600 + 30 * 60) for _ in range(n))
        for s in secs:
            noise_event(region, day + timedelta(seconds=s))
    # one late event so that the us-east-1 file for 11-19 is delivered just after midnight
    # (its S3 folder is then 2026/11/20, like CloudTrail does) and is listed by the digest.
    emit(dest="s3", account=ACCT_A, time=T("2026-11-19 23:53:27"), source="sts.amazonaws.com",
         name="GetCallerIdentity", region="us-east-1", ident=ci_bot.ident(), ip=IP_CI,
         ua=UA_TERRAFORM.format(api="sts"), req=None, read_only=True, tag="noise")


# --------------------------------------------------------------------------
# account 444455556666: LookupEvents page and NDJSON export
# --------------------------------------------------------------------------

def account_b():
    B = ACCT_B
    oi = ops_b.ident()
    oua = UA_CONSOLE
    # LookupEvents page (management events only, us-east-1)
    create_user("lookup", B, T("2026-11-19 13:20:11"), oi, IP_B_OPS, oua, m3n4,
                tag="B console flow: CreateUser")
    iam("lookup", B, T("2026-11-19 13:20:14"), "AttachUserPolicy", oi, IP_B_OPS, oua,
        OrderedDict([("userName", m3n4.name),
                     ("policyArn", "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess")]),
        tag="B console flow: AttachUserPolicy")
    ssc_create("lookup", B, T("2026-11-19 13:20:16"), oi, IP_B_OPS, oua, user=m3n4.name,
               service="bedrock.amazonaws.com", cred_id=CRED_M3N4, age_days=60,
               expect="key_created", tag="B: 60-day Bedrock key for BedrockAPIKey-m3n4")
    mi = m3n4.ident(with_key=False)
    bedrock("lookup", B, T("2026-11-19 13:45:02"), "InvokeModel", mi, IP_B_M3N4, UA_BOTO3_MAC,
            "us-east-1", model=M_CLAUDE35, expect="bearer_long_term", tag="m3n4: bearer call")
    bedrock("lookup", B, T("2026-11-19 13:46:30"), "GetFoundationModelAvailability", mi, IP_B_M3N4,
            UA_BOTO3_MAC, "us-east-1", req=OrderedDict([("modelId", M_CLAUDE35)]),
            expect="bearer_long_term", tag="m3n4: recon with bearer key")
    ss = support_role.session("support-bot", T("2026-11-19 13:55:00"))
    bedrock("lookup", B, T("2026-11-19 14:02:41"), "Converse", ss.ident(), IP_B_APP, UA_JS,
            "us-east-1", model=M_SONNET4_US, expect="bearer_short_term",
            tag="support-bot-role: short-term bearer call")

    # NDJSON export (CloudTrail Lake / SIEM style), 10 events
    bedrock("ndjson", B, T("2026-11-19 15:10:27"), "InvokeModel", mi, IP_B_M3N4, UA_BOTO3_MAC,
            "us-east-1", model=M_CLAUDE35, bearer_value="true", expect="bearer_long_term",
            tag="m3n4: bearer flag written as the string \"true\"")
    bedrock("ndjson", B, T("2026-11-19 15:12:40"), "ConverseStream", ss.ident(), IP_B_APP, UA_JS,
            "us-east-1", model=M_SONNET4_US, expect="bearer_short_term",
            tag="support-bot-role: short-term bearer call")
    bedrock("ndjson", B, T("2026-11-19 15:20:03"), "InvokeModel", ss.ident(), IP_B_APP, UA_JS,
            "us-east-1", model=M_HAIKU, bearer=False, expect=None,
            tag="negative: support-bot-role SigV4 InvokeModel")
    emit(dest="ndjson", account=B, time=T("2026-11-19 16:01:55"), source="sts.amazonaws.com",
         name="GetCallerIdentity", region="us-east-1", ident=oi, ip=IP_B_OPS,
         ua=UA_CLI.format(cmd="sts.get-caller-identity"), req=None, read_only=True, tag="noise")
    emit(dest="ndjson", account=B, time=T("2026-11-19 16:03:12"), source="s3.amazonaws.com",
         name="ListBuckets", region="us-east-1", ident=oi, ip=IP_B_OPS,
         ua=UA_CLI.format(cmd="s3.ls"), req=OrderedDict([("Host", "s3.us-east-1.amazonaws.com")]),
         add=OrderedDict([("SignatureVersion", "SigV4"), ("CipherSuite", "TLS_AES_128_GCM_SHA256"),
                          ("bytesTransferredIn", 0), ("AuthenticationMethod", "AuthHeader"),
                          ("x-amz-id-2", amz_id_2()), ("bytesTransferredOut", 512)]),
         read_only=True, version="1.09", request_id=s3_request_id(),
         host="s3.us-east-1.amazonaws.com", tag="noise")
    ss2 = support_role.session("support-bot", T("2026-11-20 08:40:00"))
    emit(dest="ndjson", account=B, time=T("2026-11-20 08:41:10"), source="ec2.amazonaws.com",
         name="DescribeInstances", region="us-east-1", ident=ss2.ident(), ip=IP_B_APP,
         ua=UA_JS.replace("bedrock-runtime", "ec2"),
         req=OrderedDict([("instancesSet", {}), ("filterSet", {})]), read_only=True, tag="noise")
    bedrock("ndjson", B, T("2026-11-20 09:00:14"), "Converse", mi, IP_B_M3N4_2, UA_PY_REQUESTS,
            "us-east-1", model=M_CLAUDE35, expect="bearer_long_term", tag="m3n4: bearer call")
    mantle("ndjson", B, T("2026-11-20 09:05:48"), "CreateResponse", mi, IP_B_M3N4_2, UA_OPENAI,
           "us-east-1", model="openai.gpt-oss-120b", token_type="ABSK",
           expect="bearer_long_term", tag="m3n4: bedrock-mantle call, ABSK")
    bedrock("ndjson", B, T("2026-11-20 09:21:37"), "InvokeModel", mi, IP_B_M3N4_2, UA_PY_REQUESTS,
            "eu-central-1", model=M_SONNET4_EU, error=denied_model_access(),
            expect="bearer_long_term", tag="m3n4: denied call from a second region")
    bedrock("ndjson", B, T("2026-11-20 09:30:02"), "InvokeModel", ss2.ident(), IP_B_APP, UA_JS,
            "us-east-1", model=M_SONNET4_US, expect="bearer_short_term",
            tag="support-bot-role: short-term bearer call")


# --------------------------------------------------------------------------
# detection pack scenarios, account 111122223333 (generated with their own PRNG so
# that every record above keeps its identifiers)
# --------------------------------------------------------------------------

DETECTION_SEED = SEED + 1


def policy_json(statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


def scenario_detections():
    global rng
    saved, rng = rng, random.Random(DETECTION_SEED)
    try:
        detections_account_a()
    finally:
        rng = saved


def detections_account_a():
    S = "s3"
    A = ACCT_A
    ai = alice.ident()
    summarizer = IamUser(A, "svc-summarizer", access_key=False)
    si = summarizer.ident(with_key=False)

    # -- 8. a leaked long-term key: svc-summarizer ----------------------------
    # Its own workload: one call a day from one address, 2026-11-09 .. 2026-11-19.
    for day in range(9, 20):
        bedrock(S, A, T(f"2026-11-{day:02d} 10:{day + 10:02d}:07"), "InvokeModel", si, IP_SUMMARIZER,
                UA_BOTO3, "us-east-1", model=M_HAIKU, expect="bearer_long_term",
                tag="svc-summarizer: its own daily call")
    thief = UA_PY_REQUESTS
    bedrock(S, A, T("2026-11-20 01:12:05"), "ListFoundationModels", si, IP_THIEF, thief, "us-east-1",
            expect="bearer_long_term", tag="svc-summarizer key from a new address: model discovery")
    probes = [M_SONNET4_US, "anthropic.claude-opus-4-20250514-v1:0", M_NOVA, "meta.llama3-70b-instruct-v1:0"]
    for i in range(12):
        err = (("ValidationException", "The provided model identifier is invalid.") if i % 3
               else ("AccessDeniedException", "You don't have access to the model with the specified model ID."))
        bedrock(S, A, T("2026-11-20 01:13:00") + timedelta(seconds=10 * i), "InvokeModel", si, IP_THIEF,
                thief, "us-east-1", model=probes[i % len(probes)], error=err, expect="bearer_long_term",
                tag="svc-summarizer key: probing models")
    bedrock(S, A, T("2026-11-20 01:16:02"), "InvokeModel", si, IP_THIEF, thief, "us-east-1",
            model=M_CLAUDE35, expect="bearer_long_term", tag="svc-summarizer key: first invocation")
    for i in range(105):
        region = "us-east-1" if i % 2 == 0 else "us-west-2"
        bedrock(S, A, T("2026-11-20 01:20:00") + timedelta(seconds=2 * i), "InvokeModel", si, IP_THIEF,
                thief, region, model=M_CLAUDE35, expect="bearer_long_term",
                tag="svc-summarizer key: invocation spike in two regions")
    bedrock(S, A, T("2026-11-20 01:30:12"), "DeleteModelInvocationLoggingConfiguration", si, IP_THIEF,
            thief, "us-east-1", expect="bearer_long_term",
            tag="svc-summarizer key: deletes the invocation logging configuration")
    bedrock(S, A, T("2026-11-20 01:31:10"), "DeleteGuardrail", si, IP_THIEF, thief, "us-east-1",
            req=OrderedDict([("guardrailIdentifier", "arn:aws:bedrock:us-east-1:111122223333:guardrail/k2x9q7l0m3n4")]),
            error=("AccessDeniedException",
                   f"User: {summarizer.arn} is not authorized to perform: bedrock:DeleteGuardrail"),
            expect="bearer_long_term", tag="svc-summarizer key: tries to delete a guardrail (denied)")
    deny_bedrock_only = policy_json([OrderedDict([
        ("Sid", "DenyBedrockApiKeys"), ("Effect", "Deny"),
        ("Action", "bedrock:CallWithBearerToken"), ("Resource", "*")])])
    iam(S, A, T("2026-11-20 02:05:40"), "PutUserPolicy", ai, IP_ALICE,
        alice_cli("iam.put-user-policy"),
        OrderedDict([("userName", summarizer.name), ("policyName", "deny-bedrock-api-keys"),
                     ("policyDocument", deny_bedrock_only)]),
        tag="alice denies bedrock:CallWithBearerToken for svc-summarizer (Mantle left open)")
    mantle(S, A, T("2026-11-20 02:40:31"), "CreateChatCompletion", si, IP_THIEF, thief, "us-east-1",
           model="openai.gpt-oss-120b", token_type="ABSK", expect="bearer_long_term",
           tag="svc-summarizer key keeps working on Bedrock Mantle")
    bedrock(S, A, T("2026-11-20 02:41:02"), "InvokeModel", si, IP_THIEF, thief, "us-east-1",
            model=M_CLAUDE35,
            error=("AccessDeniedException",
                   f"User: {summarizer.arn} is not authorized to perform: bedrock:CallWithBearerToken "
                   "with an explicit deny in an identity-based policy"),
            expect="bearer_long_term", tag="svc-summarizer key refused on Bedrock after the deny")

    # -- 9. LLMjacking with a stolen access key: dev-intern (SigV4) -----------
    intern = IamUser(A, "dev-intern")
    ii = intern.ident()
    jua = UA_BOTO3
    steps = [
        ("2026-11-19 03:02:10", "bedrock.amazonaws.com", "ListFoundationModels", None),
        ("2026-11-19 03:02:40", "bedrock.amazonaws.com", "GetFoundationModelAvailability", OrderedDict([("modelId", M_SONNET4_US)])),
        ("2026-11-19 03:03:05", "bedrock.amazonaws.com", "GetUseCaseForModelAccess", None),
        ("2026-11-19 03:03:30", "bedrock.amazonaws.com", "PutUseCaseForModelAccess", OrderedDict([("formData", "<redacted>")])),
        ("2026-11-19 03:04:00", "bedrock.amazonaws.com", "ListFoundationModelAgreementOffers", OrderedDict([("modelId", M_SONNET4_US)])),
        ("2026-11-19 03:04:20", "aws-marketplace.amazonaws.com", "SearchAgreements", OrderedDict([("catalog", "AWSMarketplace")])),
        ("2026-11-19 03:04:45", "aws-marketplace.amazonaws.com", "AcceptAgreementRequest", OrderedDict([("agreementRequestId", "ar-" + rand_str(12).lower())])),
        ("2026-11-19 03:05:00", "bedrock.amazonaws.com", "CreateFoundationModelAgreement", OrderedDict([("modelId", M_SONNET4_US), ("offerToken", "<redacted>")])),
        ("2026-11-19 03:05:20", "bedrock.amazonaws.com", "PutFoundationModelEntitlement", OrderedDict([("modelId", M_SONNET4_US)])),
    ]
    for when, source, name, req in steps:
        if source.startswith("bedrock"):
            bedrock(S, A, T(when), name, ii, IP_JACKER, jua, "us-east-1", bearer=False, req=req,
                    expect=None, tag="dev-intern stolen key: LLMjacking enablement")
        else:
            emit(dest=S, account=A, time=T(when), source=source, name=name, region="us-east-1",
                 ident=ii, ip=IP_JACKER, ua=jua, req=req, expect=None,
                 tag="dev-intern stolen key: marketplace agreement")
    bedrock(S, A, T("2026-11-19 03:07:45"), "InvokeModel", ii, IP_JACKER, jua, "us-east-1",
            model=M_SONNET4_US, bearer=False, expect=None,
            tag="dev-intern stolen key: invokes the model it enabled")

    # -- 10. control-plane changes by alice ----------------------------------
    bedrock(S, A, T("2026-11-18 16:20:33"), "UpdateGuardrail", ai, IP_ALICE,
            alice_cli("bedrock.update-guardrail"), "us-east-1", bearer=False,
            req=OrderedDict([("guardrailIdentifier", "arn:aws:bedrock:us-east-1:111122223333:guardrail/k2x9q7l0m3n4"),
                             ("name", "support-bot-guardrail"), ("blockedInputMessaging", "<redacted>")]),
            expect=None, tag="alice loosens a guardrail")
    scp = policy_json([OrderedDict([
        ("Sid", "DenyBedrockApiKeysBothPlanes"), ("Effect", "Deny"),
        ("Action", ["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"]),
        ("Resource", "*"),
        ("Condition", {"StringEquals": {"bedrock:BearerTokenType": "LONG_TERM"}})])])
    emit(dest=S, account=A, time=T("2026-11-19 17:00:09"), source="organizations.amazonaws.com",
         name="CreatePolicy", region="us-east-1", ident=ai, ip=IP_ALICE,
         ua=alice_cli("organizations.create-policy"),
         req=OrderedDict([("content", scp), ("description", "No long-term Bedrock API keys"),
                          ("name", "deny-long-term-bedrock-keys"), ("type", "SERVICE_CONTROL_POLICY")]),
         resp={"policy": {"policySummary": OrderedDict([
             ("id", "p-" + rand_str(8).lower()), ("name", "deny-long-term-bedrock-keys"),
             ("type", "SERVICE_CONTROL_POLICY"), ("awsManaged", False)])}},
         expect=None, tag="alice: an SCP denying long-term keys on both planes")

    # -- 11. the phantom user outside Bedrock, and a look-alike ----------------
    q_console = q9zp.ident(console_key=asia(), console_created=T("2026-11-19 00:28:10"))
    emit(dest=S, account=A, time=T("2026-11-19 00:31:02"), source="sts.amazonaws.com",
         name="GetCallerIdentity", region="us-east-1", ident=q_console, ip=IP_MALLORY, ua=UA_CONSOLE,
         req=None, read_only=True, expect=None, tag="phantom user: GetCallerIdentity (SDK noise, not flagged)")
    emit(dest=S, account=A, time=T("2026-11-19 00:32:17"), source="s3.amazonaws.com",
         name="ListBuckets", region="us-east-1", ident=q_console, ip=IP_MALLORY, ua=UA_CONSOLE,
         req=OrderedDict([("Host", "s3.us-east-1.amazonaws.com")]), read_only=True, expect=None,
         tag="phantom user BedrockAPIKey-q9zp lists S3 buckets")
    backup = IamUser(A, "BedrockAPIKeyBackup")
    iam(S, A, T("2026-11-17 10:02:44"), "CreateAccessKey", ai, IP_ALICE, alice_cli("iam.create-access-key"),
        OrderedDict([("userName", backup.name)]),
        {"accessKey": OrderedDict([("accessKeyId", akia()), ("status", "Active"), ("userName", backup.name),
                                   ("createDate", iam_date(T("2026-11-17 10:02:44")))])},
        tag="negative: access key for BedrockAPIKeyBackup (not a console key user)")


# Findings per rule that `keytrail scan sample-logs/` reports (checked by
# tests/it/sample_logs.rs), with the scenario that raises them.
EXPECTED_FINDINGS = [
    ("long_term_key_created", 4, "1, 2, 3, account B"),
    ("key_without_short_expiry", 2, "2 (never), 3 (365 days)"),
    ("key_creation_denied", 1, "3"),
    ("console_key_flow", 3, "1, 3, account B"),
    ("long_term_key_use", 5, "1, 2, 3, 8, account B"),
    ("short_term_key_use", 3, "4, account B"),
    ("key_used_after_revocation", 2, "1, 2"),
    ("credential_change_service_unknown", 1, "5"),
    ("phantom_user_credentials_added", 2, "3 (CreateLoginProfile, CreateAccessKey)"),
    ("phantom_user_activity_outside_bedrock", 1, "3, 11 (BedrockAPIKey-q9zp: IAM, S3)"),
    ("bearer_key_destructive_action", 2, "8 (logging deleted; guardrail delete denied)"),
    ("model_access_enabled", 1, "9"),
    ("invocation_logging_changed", 1, "8"),
    ("guardrail_weakened", 1, "10 (the denied DeleteGuardrail of 8 is not counted)"),
    ("recon_then_invoke", 2, "8 (long-term Bedrock key), 9 (AKIA key)"),
    ("model_probing_failures", 1, "8"),
    ("key_multi_region", 2, "8, account B (BedrockAPIKey-m3n4)"),
    ("key_invocation_spike", 1, "8 (105 calls in 208 seconds)"),
    ("scripted_bearer_client", 5, "1 (curl), 3 (aiohttp), 4 (python-requests), 8, account B"),
    ("llmjacking_enablement", 1, "9"),
    ("revocation_misses_mantle", 1, "8"),
    ("bearer_key_controls_changed", 3, "3 (allow), 8 (deny without Mantle), 10 (SCP)"),
    ("key_new_source", 1, "8 (first call from 203.0.113.201)"),
]


# --------------------------------------------------------------------------
# reference logic (mirrors the rules keytrail implements; used for counts)
# --------------------------------------------------------------------------

def flag_true(v) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def bearer_flag(r: dict) -> bool:
    add = r.get("additionalEventData") or {}
    req = r.get("requestParameters") or {}
    return (isinstance(add, dict) and flag_true(add.get("callWithBearerToken"))) or \
        (isinstance(req, dict) and flag_true(req.get("callWithBearerToken")))


def acting_user(r: dict) -> str | None:
    ui = r.get("userIdentity") or {}
    if ui.get("userName"):
        return ui["userName"]
    arn = ui.get("arn") or ""
    if ":user/" in arn:
        return arn.rsplit("/", 1)[-1]
    return None


def all_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from all_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from all_strings(x)


def is_relevant(r: dict) -> bool:
    name = r.get("eventName") or ""
    req = r.get("requestParameters") or {}
    if (r.get("eventSource") or "").startswith("bedrock"):
        return True
    if bearer_flag(r):
        return True
    if "ServiceSpecificCredential" in name:
        return True
    u = acting_user(r)
    if u and u.startswith("BedrockAPIKey-"):
        return True
    if isinstance(req, dict):
        if str(req.get("userName") or "").startswith("BedrockAPIKey-"):
            return True
        if "AmazonBedrock" in str(req.get("policyArn") or ""):
            return True
    if name in ("SearchAgreements", "AcceptAgreementRequest"):
        return True
    if "Policy" in name:
        needles = ("callwithbearertoken", "bearertokentype", "servicespecificcredentialservicename")
        if any(n in s.lower() for s in all_strings(req) for n in needles):
            return True
    return False


def classify(r: dict, bedrock_creds: set, nonbedrock_creds: set) -> str | None:
    name = r.get("eventName")
    req = r.get("requestParameters") or {}
    if name == "CreateServiceSpecificCredential":
        if req.get("serviceName") == "bedrock.amazonaws.com":
            return "key_create_failed" if r.get("errorCode") else "key_created"
        return None
    if name in ("UpdateServiceSpecificCredential", "ResetServiceSpecificCredential",
                "DeleteServiceSpecificCredential"):
        cid = req.get("serviceSpecificCredentialId")
        user = str(req.get("userName") or "")
        if cid in nonbedrock_creds:
            return None
        if cid in bedrock_creds or user.startswith("BedrockAPIKey-"):
            return {"UpdateServiceSpecificCredential": "key_status_changed",
                    "ResetServiceSpecificCredential": "key_reset",
                    "DeleteServiceSpecificCredential": "key_deleted"}[name]
        return None
    if bearer_flag(r):
        ttype = req.get("bearerTokenType") if isinstance(req, dict) else None
        if ttype == "ABSK":
            return "bearer_long_term"
        if ttype == "SHORT_TERM":
            return "bearer_short_term"
        ui = r.get("userIdentity") or {}
        key = ui.get("accessKeyId") or ""
        if key.startswith("ASIA") or ui.get("type") in ("AssumedRole", "FederatedUser"):
            return "bearer_short_term"
        return "bearer_long_term"
    return None


ACTIVITIES = ["key_created", "key_create_failed", "key_status_changed", "key_reset",
              "key_deleted", "bearer_long_term", "bearer_short_term", None]


# --------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------

def gz_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ceil5(dt: datetime) -> datetime:
    dt = dt.replace(second=0)
    return dt + timedelta(minutes=(-dt.minute) % 5)


def write_delivery(out: Path) -> list[dict]:
    """Group account-A events by (region, day) into delivery files. Returns file metadata."""
    groups: "OrderedDict[tuple, list[Ev]]" = OrderedDict()
    for ev in sorted((e for e in EVENTS if e.dest == "s3"), key=lambda e: (e.rec["awsRegion"], e.time)):
        groups.setdefault((ev.rec["awsRegion"], ev.time.date()), []).append(ev)
    files = []
    for (region, _day), evs in groups.items():
        evs.sort(key=lambda e: e.time)
        stamp = ceil5(evs[-1].time + timedelta(minutes=4))
        name = f"{ACCT_A}_CloudTrail_{region}_{stamp:%Y%m%dT%H%MZ}_{rand_str(16, ALNUM)}.json.gz"
        rel = f"AWSLogs/{ACCT_A}/CloudTrail/{region}/{stamp:%Y/%m/%d}/{name}"
        raw = compact({"Records": [e.rec for e in evs]}).encode("utf-8")
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gz_bytes(raw))
        files.append({"rel": rel, "region": region, "stamp": stamp, "records": len(evs),
                      "sha256": hashlib.sha256(raw).hexdigest(),
                      "oldest": evs[0].time, "newest": evs[-1].time})
    return files


def write_digest(out: Path, files: list[dict]) -> str:
    start, end = T("2026-11-20 00:00:00"), T("2026-11-20 01:00:00")
    covered = [f for f in files if f["region"] == "us-east-1" and start <= f["stamp"] < end]
    assert covered, "digest window must cover at least one delivered file"
    dname = f"{ACCT_A}_CloudTrail-Digest_us-east-1_{TRAIL_NAME}_us-east-1_{end:%Y%m%dT%H%M%SZ}.json.gz"
    rel = f"AWSLogs/{ACCT_A}/CloudTrail-Digest/us-east-1/{end:%Y/%m/%d}/{dname}"
    prev = start
    prev_name = (f"AWSLogs/{ACCT_A}/CloudTrail-Digest/us-east-1/{prev:%Y/%m/%d}/"
                 f"{ACCT_A}_CloudTrail-Digest_us-east-1_{TRAIL_NAME}_us-east-1_{prev:%Y%m%dT%H%M%SZ}.json.gz")
    body = OrderedDict([
        ("awsAccountId", ACCT_A),
        ("digestStartTime", iso(start)),
        ("digestEndTime", iso(end)),
        ("digestS3Bucket", TRAIL_BUCKET),
        ("digestS3Object", rel),
        ("digestPublicKeyFingerprint", rand_str(32, "0123456789abcdef")),
        ("digestSignatureAlgorithm", "SHA256withRSA"),
        ("newestEventTime", iso(max(f["newest"] for f in covered))),
        ("oldestEventTime", iso(min(f["oldest"] for f in covered))),
        ("previousDigestS3Bucket", TRAIL_BUCKET),
        ("previousDigestS3Object", prev_name),
        ("previousDigestHashValue", rand_str(64, "0123456789abcdef")),
        ("previousDigestHashAlgorithm", "SHA-256"),
        ("previousDigestSignature", rand_str(512, "0123456789abcdef")),
        ("logFiles", [OrderedDict([
            ("s3Bucket", TRAIL_BUCKET),
            ("s3Object", f["rel"]),
            ("hashValue", f["sha256"]),
            ("hashAlgorithm", "SHA-256"),
            ("newestEventTime", iso(f["newest"])),
            ("oldestEventTime", iso(f["oldest"])),
        ]) for f in covered]),
    ])
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gz_bytes(compact(body).encode("utf-8")))
    return rel


def lookup_resources(r: dict) -> list:
    req = r.get("requestParameters") or {}
    res = []
    if r["eventSource"] == "iam.amazonaws.com":
        if req.get("userName"):
            res.append(OrderedDict([("ResourceType", "AWS::IAM::User"), ("ResourceName", req["userName"])]))
        if req.get("policyArn"):
            res.append(OrderedDict([("ResourceType", "AWS::IAM::Policy"), ("ResourceName", req["policyArn"])]))
    return res


def write_lookup(out: Path) -> str:
    evs = sorted((e for e in EVENTS if e.dest == "lookup"), key=lambda e: e.time, reverse=True)
    items = []
    for e in evs:
        r = e.rec
        ui = r["userIdentity"]
        it = OrderedDict()
        it["EventId"] = r["eventID"]
        it["EventName"] = r["eventName"]
        it["ReadOnly"] = "true" if r["readOnly"] else "false"
        if ui.get("accessKeyId"):
            it["AccessKeyId"] = ui["accessKeyId"]
        # AWS CLI v2 prints timestamps as ISO 8601 with an explicit offset
        it["EventTime"] = e.time.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        it["EventSource"] = r["eventSource"]
        it["Username"] = ui.get("userName") or ui.get("arn", "").rsplit("/", 1)[-1]
        it["Resources"] = lookup_resources(r)
        it["CloudTrailEvent"] = compact(r)
        items.append(it)
    page = OrderedDict([("Events", items), ("NextToken", rand_str(172, ALNUM + "+/") + "==")])
    rel = "lookup-events/us-east-1-page1.json"
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(page, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
    return rel


def write_ndjson(out: Path) -> str:
    evs = sorted((e for e in EVENTS if e.dest == "ndjson"), key=lambda e: e.time)
    rel = "exports/lake-export.ndjson"
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(compact(e.rec) + "\n" for e in evs), encoding="utf-8")
    return rel


# --------------------------------------------------------------------------
# counts, checks, README
# --------------------------------------------------------------------------

SOURCES = [("s3", "delivery files (AWSLogs/)"), ("lookup", "LookupEvents page"),
           ("ndjson", "NDJSON export")]


def compute(files, digest_rel):
    bedrock_creds, nonbedrock_creds = set(), set()
    for e in EVENTS:
        r = e.rec
        if r["eventName"] == "CreateServiceSpecificCredential" and not r.get("errorCode"):
            c = r["responseElements"]["serviceSpecificCredential"]
            (bedrock_creds if c["serviceName"] == "bedrock.amazonaws.com" else nonbedrock_creds).add(
                c["serviceSpecificCredentialId"])
    per = {s: Counter() for s, _ in SOURCES}
    rel = Counter()
    tot = Counter()
    for e in EVENTS:
        act = classify(e.rec, bedrock_creds, nonbedrock_creds)
        if act != e.expect:
            raise SystemExit(f"self-check failed: {e.tag!r} classified {act!r}, crafted as {e.expect!r}")
        per[e.dest][act] += 1
        tot[e.dest] += 1
        if is_relevant(e.rec):
            rel[e.dest] += 1

    # lifecycle findings: bearer use by a key's user after its deactivation / deletion
    lifecycle = []
    cred_user = {}
    for e in EVENTS:
        r = e.rec
        if r["eventName"] == "CreateServiceSpecificCredential" and not r.get("errorCode"):
            c = r["responseElements"]["serviceSpecificCredential"]
            cred_user[c["serviceSpecificCredentialId"]] = c["userName"]
    for e in EVENTS:
        r = e.rec
        req = r.get("requestParameters") or {}
        kind = None
        if r["eventName"] == "UpdateServiceSpecificCredential" and req.get("status") == "Inactive":
            kind = "deactivation"
        elif r["eventName"] == "DeleteServiceSpecificCredential":
            kind = "deletion"
        cid = req.get("serviceSpecificCredentialId")
        if kind and cid in bedrock_creds:
            user = cred_user[cid]
            later = [x for x in EVENTS if x.time > e.time and acting_user(x.rec) == user
                     and x.rec["recipientAccountId"] == r["recipientAccountId"]
                     and classify(x.rec, bedrock_creds, nonbedrock_creds) == "bearer_long_term"]
            lifecycle.append((kind, user, cid, iso(e.time), len(later),
                              sum(1 for x in later if x.rec.get("errorCode"))))
    unattributed = [e for e in EVENTS if "ServiceSpecificCredential" in e.rec["eventName"]
                    and e.rec["eventName"] != "CreateServiceSpecificCredential"
                    and (e.rec["requestParameters"] or {}).get("serviceSpecificCredentialId")
                    not in bedrock_creds | nonbedrock_creds]
    lifecycle.sort(key=lambda x: x[3])
    scenario_checks(bedrock_creds, nonbedrock_creds)
    extra = (bearer_summary(bedrock_creds, nonbedrock_creds), key_summary())
    return per, rel, tot, lifecycle, unattributed, extra


def principal_of(r: dict) -> str:
    ui = r.get("userIdentity") or {}
    if ui.get("type") == "AssumedRole":
        return f"role/{ui['sessionContext']['sessionIssuer']['userName']}"
    return f"user/{acting_user(r)}"


def bearer_summary(bedrock_creds, nonbedrock_creds):
    rows = OrderedDict()
    for e in sorted(EVENTS, key=lambda e: (e.rec["recipientAccountId"], e.time)):
        act = classify(e.rec, bedrock_creds, nonbedrock_creds)
        if act not in ("bearer_long_term", "bearer_short_term"):
            continue
        r = e.rec
        k = (r["recipientAccountId"], principal_of(r))
        d = rows.setdefault(k, {"long": 0, "short": 0, "denied": 0, "regions": [], "ips": [],
                                "models": [], "first": r["eventTime"], "last": r["eventTime"]})
        d["long" if act == "bearer_long_term" else "short"] += 1
        d["denied"] += 1 if r.get("errorCode") else 0
        for key, val in (("regions", r["awsRegion"]), ("ips", r["sourceIPAddress"]),
                         ("models", (r.get("requestParameters") or {}).get("modelId")
                          or (r.get("requestParameters") or {}).get("model"))):
            if val and val not in d[key]:
                d[key].append(val)
        d["last"] = r["eventTime"]
    return rows


def key_summary():
    rows = []
    for e in sorted(EVENTS, key=lambda e: e.time):
        r = e.rec
        req = r.get("requestParameters") or {}
        if r["eventName"] == "CreateServiceSpecificCredential" and \
                req.get("serviceName") == "bedrock.amazonaws.com":
            c = (r.get("responseElements") or {}).get("serviceSpecificCredential") or {}
            rows.append((r["recipientAccountId"], req["userName"], acting_user(r), r["eventTime"],
                         req.get("credentialAgeDays"), c.get("serviceSpecificCredentialId"),
                         r.get("errorCode")))
    return rows


def scenario_checks(bedrock_creds, nonbedrock_creds):
    """Assert that the prose in SCENARIO_MD matches the records."""
    def bearer(user, before=None, after=None):
        out = []
        for e in EVENTS:
            if acting_user(e.rec) != user or not str(
                    classify(e.rec, bedrock_creds, nonbedrock_creds)).startswith("bearer_"):
                continue
            if before and not e.time < before:
                continue
            if after and not e.time > after:
                continue
            out.append(e.rec)
        return out
    x = bearer("BedrockAPIKey-x7k2", before=T("2026-11-19 14:00:00"))
    assert len(x) == 12, len(x)
    assert sum(1 for r in x if r.get("errorCode")) == 2
    assert len({r["sourceIPAddress"] for r in x}) == 2
    assert {r["awsRegion"] for r in x} == {"us-east-1", "us-west-2"}
    assert {(r["requestParameters"] or {}).get("modelId") for r in x} - {None} == {M_CLAUDE35, M_NOVA}
    assert sum(1 for r in x if r["eventName"] == "ListFoundationModels") == 1
    assert sum(1 for r in x if r["userAgent"] == UA_CURL) == 1
    assert all("accessKeyId" not in r["userIdentity"] for r in x)
    y = bearer("BedrockAPIKey-x7k2", after=T("2026-11-19 14:00:00"))
    assert len(y) == 2 and sum(1 for r in y if r.get("errorCode")) == 1
    assert len(bearer("ci-bot", before=T("2026-11-20 10:00:00"))) == 4
    assert len(bearer("ci-bot", after=T("2026-11-20 10:00:00"))) == 1


def sanity_checks(out: Path):
    ids = [e.rec["eventID"] for e in EVENTS]
    assert len(ids) == len(set(ids)), "duplicate eventID"
    import ipaddress
    nets = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for e in EVENTS:
        r = e.rec
        assert r["recipientAccountId"] in (ACCT_A, ACCT_B)
        assert "sharedEventID" not in r
        ip = r["sourceIPAddress"]
        if not ip.endswith(".amazonaws.com"):
            assert any(ipaddress.ip_address(ip) in n for n in nets), ip
        if r["eventSource"] == "iam.amazonaws.com":
            assert r["awsRegion"] == "us-east-1"
        assert T("2026-11-09 00:00:00") <= e.time < T("2026-11-21 00:00:00")
    total_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert len(EVENTS) < 400, len(EVENTS)
    assert total_bytes < 200 * 1024, total_bytes
    return total_bytes


SCENARIO_MD = """\
## Scenario

Account `111122223333` (S3 delivery files, trail `org-trail`):

1. **Console key flow.** On 2026-11-17 `alice` (IAM user, `AKIA` key) runs `CreateUser`
   `BedrockAPIKey-x7k2`, `AttachUserPolicy` `AmazonBedrockLimitedAccess`, and
   `CreateServiceSpecificCredential` for `bedrock.amazonaws.com` with `credentialAgeDays` 30
   (credential `{CRED_X7K2}`; dates in IAM's `Nov 17, 2026, 9:14:03 AM` style). `BedrockAPIKey-x7k2`
   then makes 12 bearer (long-term) calls between 2026-11-17 and 2026-11-19 from 2 IPs
   (`203.0.113.45`, `198.51.100.23`) in `us-east-1` and `us-west-2`, with 2 models
   (`{M_CLAUDE35}`, `{M_NOVA}`): 2 are denied (`AccessDeniedException`), one is a bearer
   `ListFoundationModels` (recon), one comes from `curl/8.5.0`. On 2026-11-19 14:00 `alice`
   deactivates the credential (`UpdateServiceSpecificCredential` status `Inactive`); afterwards
   `BedrockAPIKey-x7k2` makes 2 more bearer calls (2026-11-19 18:22 denied, 2026-11-20 03:10):
   **key used after deactivation**.
2. **Never-expiring key.** On 2026-11-16 `ci-bot` creates a Bedrock credential for itself without
   `credentialAgeDays` (no expiry) and makes 4 bearer calls (IAMUser identity, no `accessKeyId`).
   `alice` resets it (`ResetServiceSpecificCredential`, 2026-11-18) and deletes it
   (`DeleteServiceSpecificCredential`, 2026-11-20 10:00); at 2026-11-20 11:00 `ci-bot` makes one
   more bearer call: **key used after deletion**.
3. **Phantom user.** On 2026-11-18 `mallory` creates user `BedrockAPIKey-q9zp`, a Bedrock credential
   for it with `credentialAgeDays` 365 (**more than 90 days**), puts an inline policy whose
   document allows `bedrock:CallWithBearerToken`, tries a second credential for the same user and
   is refused (`AccessDenied`: **key_create_failed**), and gives the user a console password
   (`CreateLoginProfile`). `BedrockAPIKey-q9zp` makes 2 bearer calls in `eu-central-1`
   (`aiohttp`) and one `bedrock-mantle` call with `bearerTokenType` `ABSK`, then, signed in to the
   console, runs `CreateAccessKey` for itself (**a BedrockAPIKey- user acting outside Bedrock**).
4. **Short-term keys.** Role `bedrock-app-role` (session `app-session`, `ASIA` keys) makes 7
   bearer calls in `us-east-1`/`eu-central-1` (one denied by an explicit deny) and one
   `bedrock-mantle` call with `bearerTokenType` `SHORT_TERM`. Role `data-science` makes 3 bearer
   calls from `python-requests/2.32.3` in `us-west-2`.
5. **Unattributed change.** `alice` runs `UpdateServiceSpecificCredential` on user `legacy-svc`
   with a credential id (`{CRED_LEGACY}`) that no create event shows: a credential change whose
   service is unknown (not a Bedrock `key_*` activity).
6. **Negatives** (must not be flagged as key activity): `CreateServiceSpecificCredential` for
   `codecommit.amazonaws.com`, `cassandra.amazonaws.com` and `aws-external-anthropic.amazonaws.com`;
   `UpdateServiceSpecificCredential` on the CodeCommit credential; SigV4 `ListFoundationModels` and
   `InvokeModel` by role `ml-pipeline-role` (one of them with `callWithBearerToken: false`); an S3
   `GetObject` of `notes/callWithBearerToken.txt`; an EC2 `DescribeInstances` whose user agent
   contains `bedrock`.
7. **Background noise:** ordinary EC2, S3, STS and IAM calls by `alice`, `ci-bot`, role
   `ReadOnlyAuditor` and the EC2 service.
8. **A leaked long-term key.** IAM user `svc-summarizer` holds a Bedrock key (made before these
   logs) and calls `InvokeModel` once a day from `192.0.2.70` (2026-11-09 to 2026-11-19). On
   2026-11-20 from 01:12 the key is used from `203.0.113.201` with `python-requests`: a bearer
   `ListFoundationModels` (**new source**, and the start of **recon then invoke**), 12 failed
   `InvokeModel` calls in 2 minutes (`ValidationException`/`AccessDeniedException`: **probing**),
   a first successful call at 01:16, then 105 calls in 208 seconds alternating `us-east-1` and
   `us-west-2` (**invocation spike**, **multi-region**), a successful bearer
   `DeleteModelInvocationLoggingConfiguration` and a denied bearer `DeleteGuardrail`
   (**destructive actions**; the denied delete is not a weakened guardrail). At 02:05 `alice`
   puts a deny of `bedrock:CallWithBearerToken` on the user, without
   `bedrock-mantle:CallWithBearerToken`; at 02:40 the key still works on Bedrock Mantle
   (`CreateChatCompletion`, `ABSK`) while Bedrock refuses it: **the revocation misses Mantle**.
9. **LLMjacking with a stolen access key.** On 2026-11-19 from 03:02 `dev-intern`'s `AKIA` key
   (SigV4, from `198.51.100.66`) runs `ListFoundationModels`, `GetFoundationModelAvailability`,
   `GetUseCaseForModelAccess`, `PutUseCaseForModelAccess`, `ListFoundationModelAgreementOffers`,
   AWS Marketplace `SearchAgreements` and `AcceptAgreementRequest`,
   `CreateFoundationModelAgreement`, `PutFoundationModelEntitlement`, then `InvokeModel` at
   03:07: **model access enabled**, **LLMjacking enablement**, **recon then invoke**.
10. **Control-plane changes.** `alice` loosens a guardrail (`UpdateGuardrail`, 2026-11-18) and
    creates an SCP (`organizations` `CreatePolicy`, 2026-11-19) denying long-term keys on both
    planes: a key control changed, but no Mantle gap.
11. **The phantom user outside Bedrock.** Signed in to the console, `BedrockAPIKey-q9zp` calls
    `sts:GetCallerIdentity` (left out: SDKs call it) and `s3:ListBuckets` (flagged, with its
    `CreateAccessKey`). `alice` gives an access key to `BedrockAPIKeyBackup`, a user whose name
    only looks like a console key user (no dash): not kept, not flagged.

Account `444455556666`:

- `lookup-events/us-east-1-page1.json` (a `aws cloudtrail lookup-events` page as AWS CLI v2 prints
  it, newest first): `ops-admin` runs the console key flow for `BedrockAPIKey-m3n4`
  (`CreateUser`, `AttachUserPolicy`, `CreateServiceSpecificCredential` with 60 days),
  `BedrockAPIKey-m3n4` makes a bearer `InvokeModel` and a bearer
  `GetFoundationModelAvailability`, and role `support-bot-role` a short-term bearer `Converse`.
- `exports/lake-export.ndjson` (one CloudTrail record per line, as CloudTrail Lake / SIEM exports
  write them): more bearer calls by `BedrockAPIKey-m3n4` (one with `callWithBearerToken` written as
  the string `"true"`, one `bedrock-mantle` `ABSK` call, one denied call in `eu-central-1`),
  short-term bearer calls and one SigV4 `InvokeModel` by `support-bot-role`, and 3 noise events.

The digest file under `CloudTrail-Digest/` is a CloudTrail digest (no `Records`): it lists the
one delivery file delivered between 00:00 and 01:00 on 2026-11-20 with the SHA-256 of its
uncompressed content. The tool must skip it. Its signatures and fingerprint are random hex.
"""


def render_readme(files, digest_rel, lookup_rel, ndjson_rel, per, rel, tot, lifecycle,
                  unattributed, total_bytes, extra) -> str:
    bearer_rows, key_rows = extra
    L = []
    L.append("# sample-logs: a synthetic CloudTrail corpus\n")
    L.append("**Everything in this directory is synthetic.** It was generated by "
             "`tools/gen_sample_logs.py` (Python 3.11, standard library only, fixed seed "
             f"{SEED}); re-running `python3 tools/gen_sample_logs.py` reproduces it byte for byte. "
             "Do not edit these files by hand: change the generator and re-run it.\n")
    L.append("The accounts (`111122223333`, `444455556666`) are AWS documentation example accounts, "
             "every IP address is in a documentation range (`192.0.2.0/24`, `198.51.100.0/24`, "
             "`203.0.113.0/24`), and every access key id, principal id, credential id and event id "
             "is random. No record contains a secret or a bearer token. The field shapes follow "
             "real CloudTrail records; shapes that no public sample shows (the "
             "`CreateServiceSpecificCredential` response for Bedrock, `bedrock-mantle` event "
             "names such as `CreateChatCompletion`/`CreateMessage`/`CreateResponse`, the error "
             "message for an inactive key) are educated guesses.\n")
    L.append("## Files\n")
    L.append("| file | records |")
    L.append("|---|---:|")
    for f in files:
        L.append(f"| `{f['rel']}` | {f['records']} |")
    L.append(f"| `{digest_rel}` | digest (no records) |")
    L.append(f"| `{lookup_rel}` | {tot['lookup']} |")
    L.append(f"| `{ndjson_rel}` | {tot['ndjson']} |")
    L.append("")
    L.append(SCENARIO_MD.format(CRED_X7K2=CRED_X7K2, CRED_LEGACY=CRED_LEGACY,
                                M_CLAUDE35=M_CLAUDE35, M_NOVA=M_NOVA))
    L.append("## Rules exercised\n")
    L.append("`keytrail scan sample-logs/` raises these findings with the default parameters "
             "(every built-in rule fires at least once; `tests/it/sample_logs.rs` checks the counts). "
             "Numbers refer to the scenario above.\n")
    L.append("| rule | findings | scenario |")
    L.append("|---|---:|---|")
    for rule, n, where in EXPECTED_FINDINGS:
        L.append(f"| `{rule}` | {n} | {where} |")
    L.append("")
    L.append("## Expected counts\n")
    L.append("Computed by the generator from the records it wrote (it also prints them).\n")
    L.append(counts_table(files, per, rel, tot))
    L.append("")
    L.append("Activity `(none)` means the event gets no key activity (activity null): noise, "
             "negatives, the unattributed `legacy-svc` change, and context events such as "
             "`CreateUser`/`AttachUserPolicy`/`PutUserPolicy`/`CreateAccessKey`.\n")
    L.append("An event is *Bedrock-relevant* if its eventSource starts with `bedrock`; or the bearer "
             "flag (`additionalEventData.callWithBearerToken` or "
             "`requestParameters.callWithBearerToken`) is `true` or `\"true\"`; or its eventName "
             "contains `ServiceSpecificCredential`; or the acting user (`userIdentity.userName`, "
             "or the user name in `userIdentity.arn`) or `requestParameters.userName` starts "
             "with `BedrockAPIKey-`; or `requestParameters.policyArn` contains `AmazonBedrock`; or "
             "the eventName contains `Policy` and a `requestParameters` string mentions "
             "`callwithbearertoken`, `bearertokentype` or `servicespecificcredentialservicename` "
             "(case-insensitive).\n")
    L.append("Key lifecycle findings (bearer calls by the key's user after the change):\n")
    L.append("| change | user | credential | at | later bearer calls | of which denied |")
    L.append("|---|---|---|---|---:|---:|")
    for kind, user, cid, at, n, nd in lifecycle:
        L.append(f"| {kind} | `{user}` | `{cid}` | {at} | {n} | {nd} |")
    L.append("")
    L.append(f"Credential changes that cannot be attributed to any service: {len(unattributed)} "
             + ", ".join(f"(`{e.rec['eventName']}` on user "
                         f"`{e.rec['requestParameters']['userName']}`, "
                         f"`{e.rec['requestParameters']['serviceSpecificCredentialId']}`)"
                         for e in unattributed) + ".\n")
    L.append("Bedrock key creation attempts (`CreateServiceSpecificCredential` for "
             "`bedrock.amazonaws.com`):\n")
    L.append("| account | for user | by | at | credentialAgeDays | credential id | error |")
    L.append("|---|---|---|---|---:|---|---|")
    for acct, user, by, at, age, cid, err in key_rows:
        L.append(f"| {acct} | `{user}` | `{by}` | {at} | {age if age is not None else 'none (never expires)'} "
                 f"| {f'`{cid}`' if cid else '-'} | {err or '-'} |")
    L.append("")
    L.append("Bearer-token calls per principal (all files together):\n")
    L.append("| account | principal | long-term | short-term | denied | regions | source IPs | models | first | last |")
    L.append("|---|---|---:|---:|---:|---|---|---|---|---|")
    for (acct, who), d in bearer_rows.items():
        L.append(f"| {acct} | `{who}` | {d['long']} | {d['short']} | {d['denied']} | "
                 f"{', '.join(d['regions'])} | {', '.join(d['ips'])} | "
                 f"{', '.join(f'`{m}`' for m in d['models'])} | {d['first']} | {d['last']} |")
    L.append("")
    L.append(f"Size of the generated log files (without this README): {total_bytes} bytes.\n")
    return "\n".join(L)


def counts_table(files, per, rel, tot) -> str:
    L = ["| | delivery files | LookupEvents page | NDJSON export | total |",
         "|---|---:|---:|---:|---:|"]
    def row(label, vals):
        L.append(f"| {label} | " + " | ".join(str(v) for v in vals) + f" | {sum(vals)} |")
    row("log files (digest not counted)", [len(files), 1, 1])
    L.append("| digest files (skipped) | 1 | 0 | 0 | 1 |")
    row("records", [tot[s] for s, _ in SOURCES])
    row("Bedrock-relevant records", [rel[s] for s, _ in SOURCES])
    row("not Bedrock-relevant (noise)", [tot[s] - rel[s] for s, _ in SOURCES])
    for a in ACTIVITIES:
        row(f"activity `{a}`" if a else "activity `(none)`", [per[s][a] for s, _ in SOURCES])
    return "\n".join(L)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent.parent / "sample-logs",
                    help="output directory (default: <repo>/sample-logs)")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("AWSLogs", "lookup-events", "exports"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    if (out / "README.md").exists():
        (out / "README.md").unlink()

    scenario_account_a()
    noise_account_a()
    account_b()
    scenario_detections()

    files = write_delivery(out)
    digest_rel = write_digest(out, files)
    lookup_rel = write_lookup(out)
    ndjson_rel = write_ndjson(out)
    per, rel, tot, lifecycle, unattributed, extra = compute(files, digest_rel)
    total_bytes = sanity_checks(out)
    readme = render_readme(files, digest_rel, lookup_rel, ndjson_rel, per, rel, tot, lifecycle,
                           unattributed, total_bytes, extra)
    (out / "README.md").write_text(readme, encoding="utf-8")

    print(f"wrote {len(files)} delivery files + 1 digest, {lookup_rel}, {ndjson_rel}, README.md "
          f"into {out}")
    print(counts_table(files, per, rel, tot))
    all_rec = sum(tot.values())
    all_rel = sum(rel.values())
    print(f"noise share: {all_rec - all_rel}/{all_rec} = {(all_rec - all_rel) / all_rec:.0%}")
    for kind, user, cid, at, n, nd in lifecycle:
        print(f"after {kind} of {cid} ({user}) at {at}: {n} bearer calls, {nd} denied")
    for e in unattributed:
        rp = e.rec["requestParameters"]
        print(f"unattributed credential change: {e.rec['eventName']} {rp['userName']} "
              f"{rp['serviceSpecificCredentialId']}")
    print(f"log files size (without README): {total_bytes} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
