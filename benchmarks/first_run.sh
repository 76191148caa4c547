#!/bin/bash
# The first `make demo` from a fresh clone, timed: seconds until the store answers, and until every
# background artifact is ready (no pending artifact state or styled image, the background chain
# done). Appends one run to benchmarks/results/first_run.json. Run it on an idle machine:
#   bash benchmarks/first_run.sh /tmp/first-run 8131
set -u
dir=$1; port=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir"; git clone -q "$repo" "$dir"; cd "$dir"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}
start=$(date +%s)
( make demo PORT="$port" > "$dir/make-demo.log" 2>&1 ) &
served=""; ready=""
while true; do
  now=$(( $(date +%s) - start ))
  if [ -z "$served" ] && curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/" 2>/dev/null | grep -q 200; then
    served=$now
  fi
  if [ -n "$served" ] && grep -q "demo background work: done" var/log/demo-background.log 2>/dev/null; then
    pending=$(.venv/bin/python manage.py shell -c "from stylerec.models import ArtifactState as A, StyledImage as S; print(A.objects.filter(status='pending').count() + S.objects.filter(status='pending').count())" 2>/dev/null | tail -1)
    if [ "$pending" = "0" ]; then ready=$now; break; fi
  fi
  if [ "$now" -gt 1800 ]; then break; fi
  sleep 10
done
pkill -f "$dir/.venv/bin/python" || true
"$repo/.venv/bin/python" - "$repo/benchmarks/results/first_run.json" "$served" "$ready" <<'PY'
import datetime, json, os, subprocess, sys
path, served, ready = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(path)) if os.path.exists(path) else {"goals": {"served_s": 300, "ready_s": 600}, "runs": []}
data["runs"].append({
    "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
    "served_s": int(served) if served else None,
    "ready_s": int(ready) if ready else None,
    "served_min": round(int(served) / 60, 2) if served else None,
    "ready_min": round(int(ready) / 60, 2) if ready else None,
    "cpu_count": os.cpu_count(),
    "load_average_1m_at_end": round(os.getloadavg()[0], 2),
})
json.dump(data, open(path, "w"), indent=2)
PY
