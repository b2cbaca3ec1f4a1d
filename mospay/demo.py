"""`python run.py --demo`: a simulator, a demo service and client, and curl commands to paste."""

from __future__ import annotations

import base64

from . import accounts, catalogue, errors
from .simulator import Simulator

DEMO_APP_ID = "demo"
DEMO_SERVICE = "mtnmomorwa"
# The demo service gives up after 2 + 5 s, well before the simulator's hang and trickle end (both last
# DEMO_HANG_S): so 0002 and 0006 answer UNKNOWN, as README's simulator table says, within seconds.
DEMO_TIMEOUTS = {"connect_timeout_s": 2, "timeout_s": 5}
DEMO_HANG_S = 30.0


def demo_deadline_s() -> float:
    """How long a demo payment waits for the provider at most (connect + read timeout)."""
    return float(DEMO_TIMEOUTS["connect_timeout_s"] + DEMO_TIMEOUTS["timeout_s"])


def start_simulator(host: str, port: int) -> Simulator:
    return Simulator(host=host, port=port, hang_seconds=DEMO_HANG_S).start()


def seed(runtime, simulator_url: str, base_url: str) -> str:
    """Create (or refresh) the demo service and client; returns the text to print."""
    db, key = runtime.db, runtime.config.secret_key
    try:
        catalogue.create_service(db, {"name": DEMO_SERVICE, "service_url": simulator_url,
                                       "display_name": "MTN MoMo Rwanda (simulator)", **DEMO_TIMEOUTS})
    except errors.Conflict:  # a previous --demo on this database: point it at this simulator, same deadline
        db.query("service_point_at", url=simulator_url, name=DEMO_SERVICE,
                 connect=DEMO_TIMEOUTS["connect_timeout_s"], read=DEMO_TIMEOUTS["timeout_s"])
    try:
        creds = accounts.create_client(db, key, {"company_name": "Demo Shop", "app_id": DEMO_APP_ID})
    except errors.Conflict:
        creds = accounts.rotate_credentials(db, key, DEMO_APP_ID)
    catalogue.assign_service(db, DEMO_APP_ID, {"service": DEMO_SERVICE, "routes": ["collection"]})
    basic = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    body = ('{"f000":"mtnmomorwa","f001":"collection","f002":"collection","f003":"demo","f004":"1000.00",'
            '"f005":"+250788123456","f006":"customer123","f007":"encrypted","f008":"pwd","f009":"device1",'
            '"f010":"order-$(date +%s)"}')
    return f"""
Demo ready: service {DEMO_SERVICE} -> simulator at {simulator_url}, client app_id={DEMO_APP_ID}
  api_username={creds['api_username']}
  api_secret={creds['api_secret']}   (shown once; a new one is made each --demo start)
  admin portal: {base_url}/admin

For README's curl session:
  export API_USERNAME={creds['api_username']} API_SECRET={creds['api_secret']}

Paste into a shell:
  BASIC={basic}
  TOKEN=$(curl -s -X POST {base_url}/api/v1/auth/token -H "Authorization: Basic $BASIC" -H "App-ID: demo" \\
          | python -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  F010=order-$(date +%s)
  curl -s -X POST {base_url}/api/v1/payment/process -H "Authorization: Bearer $TOKEN" \\
       -H "Content-Type: application/json" -d "{body.replace('"', chr(92) + '"').replace('order-$(date +%s)', '$F010')}"
  curl -s {base_url}/api/v1/payment/$F010 -H "Authorization: Bearer $TOKEN"
Test numbers (f005): ...0001 declines, ...0002 and ...0006 are UNKNOWN within {demo_deadline_s():g} s, ...0003 answers 500,
...0004 stays pending; the whole list is README's simulator table.
"""
