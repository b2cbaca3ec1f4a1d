"""The shell samples the OpenAPI document carries (x-codeSamples), rendered on /docs: a full session with
curl, and how a webhook receiver checks the signature."""

TOKEN_CURL = """
BASIC=$(printf '%s:%s' "$API_USERNAME" "$API_SECRET" | base64 -w0)
curl -s -X POST http://127.0.0.1:5000/api/v1/auth/token \\
  -H "Authorization: Basic $BASIC" -H "App-ID: $APP_ID"
"""
PAYMENT_CURL = """
curl -s -X POST http://127.0.0.1:5000/api/v1/payment/process \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  -d '{"f000":"mtnmomorwa","f001":"collection","f002":"collection","f003":"'$APP_ID'",
       "f004":"1000.00","f005":"+250788123456","f006":"customer123","f007":"encrypted",
       "f008":"pwd","f009":"device_abc123","f010":"order-1001"}'
"""
STATUS_CURL = """
curl -s http://127.0.0.1:5000/api/v1/payment/order-1001 -H "Authorization: Bearer $TOKEN"
"""
STATUS_POST_CURL = """
curl -s -X POST http://127.0.0.1:5000/api/v1/payment/status \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{"f010":"order-1001"}'
"""
# The receiving side: recompute the HMAC over "<t>.<body>" and compare (also in examples/client.py).
WEBHOOK_CHECK = """
# $SIG is the MosPay-Signature header, e.g. t=1767225600,v1=5f2b...; body.json the raw body
T=${SIG#t=}; T=${T%%,*}; V1=${SIG##*v1=}
EXPECTED=$({ printf '%s.' "$T"; cat body.json; } | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/^.* //')
[ "$EXPECTED" = "$V1" ] && [ $(( $(date +%s) - T )) -lt 300 ] && echo valid || echo REJECT
"""
