# Bedrock-relevance predicate, the jq baseline of benches/run.sh.
# Input: a stream of CloudTrail delivery documents {"Records":[...]}.
# Output: every Bedrock-relevant record, one per line with `jq -c`.
#
# A record is relevant if ANY of:
#  (a) .eventSource starts with "bedrock"
#  (b) .additionalEventData.callWithBearerToken or .requestParameters.callWithBearerToken
#      is true or the string "true" (any case)
#  (c) .eventName contains "ServiceSpecificCredential"
#  (d) .userIdentity.userName, .userIdentity.sessionContext.sessionIssuer.userName,
#      the last path segment of .userIdentity.arn when it contains ":user/", or
#      .requestParameters.userName starts with "BedrockAPIKey-" (any case)
#  (e) .requestParameters.policyArn contains "AmazonBedrock"
#  (f) .eventName contains "Policy" and (.requestParameters | tostring | ascii_downcase)
#      contains "callwithbearertoken", "bearertokentype" or
#      "servicespecificcredentialservicename"
#
# Any field may be absent, null or of an unexpected type: a non-object is read as {}
# and a non-string as "" (or as "not a flag"), so the filter never fails. Works with
# jq 1.6 and later. benches/gen_corpus.py implements the same rule in Python
# (is_relevant); both were checked against each other on hand-made edge cases.
#
# Written for speed on jq 1.6, where ascii_downcase is a jq-level function
# (explode/map/implode) and costs more than everything else: it is applied only to
# short strings or prefixes (same result as downcasing the whole string), and to
# tostring(requestParameters) only when eventName contains "Policy".

def o: if type == "object" then . else {} end;
def s: if type == "string" then . else "" end;
def flag_true: . == true or (type == "string" and length == 4 and ascii_downcase == "true");
def bedrock_user: type == "string" and length >= 14 and (.[0:14] | ascii_downcase) == "bedrockapikey-";

def relevant:
  (.eventName | s) as $name
  | (.userIdentity | o) as $ui
  | (.requestParameters | o) as $rp
  | (.eventSource | s | startswith("bedrock"))                                # (a)
    or (.additionalEventData | o | .callWithBearerToken | flag_true)          # (b)
    or ($rp.callWithBearerToken | flag_true)                                  # (b)
    or ($name | contains("ServiceSpecificCredential"))                        # (c)
    or ($ui.userName | bedrock_user)                                          # (d)
    or ($ui.sessionContext | o | .sessionIssuer | o | .userName | bedrock_user)
    or ($ui.arn | s | contains(":user/") and (split("/") | last | bedrock_user))
    or ($rp.userName | bedrock_user)
    or ($rp.policyArn | s | contains("AmazonBedrock"))                       # (e)
    or (($name | contains("Policy"))                                          # (f)
        and (.requestParameters | tostring | ascii_downcase
             | contains("callwithbearertoken") or contains("bearertokentype")
               or contains("servicespecificcredentialservicename")));

(if type == "object" then .Records else null end)
| if type == "array" then .[] else empty end
| select(type == "object" and relevant)
