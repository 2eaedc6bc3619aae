#!/usr/bin/env bash
# Start or stop `airflow standalone` for the demo, in its own process group, sized for a 2-core machine.
#   scripts/airflow.sh start   start (idempotent), wait until healthy, print the login
#   scripts/airflow.sh demo    unpause the hub's DAGs, run each once, wait for the runs (make run does this)
#   scripts/airflow.sh stop    stop the process group started by `start`
set -euo pipefail
cd "$(dirname "$0")/.."
export HUB_HOME=${HUB_HOME:-$PWD/.crmhub}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$HUB_HOME/airflow}
export PATH="$PWD/.venv/bin:$PATH"
# this checkout's code first: the DAG factory (dags/), the plugin (plugins/) and crm_core / connectors / mapping
export PYTHONPATH="$PWD:$PWD/dags:$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$PWD/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# two cores: two task processes at a time, one API server worker
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-2}
export AIRFLOW__API__WORKERS=${AIRFLOW__API__WORKERS:-1}
# a task gives the execution API 5 s by default; a busy laptop needs longer or tasks die before they start
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-60}
# the SQLite metadata file: wait for a lock instead of dying after sqlite3's 5 s (plugins/airflow_sqlite.py)
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=airflow_sqlite.CONNECT_ARGS
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC=airflow_sqlite.CONNECT_ARGS
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL=${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-120}
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-60}
# parsing imports the hub's packages: on a busy machine that exceeds Airflow's 30 s import timeout, the parse
# counts as an error and the DAGs are deactivated as stale (the demo then gets 404 for them)
export AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=${AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT:-300}
export AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT=${AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT:-360}
export AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD=${AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD:-900}
export AIRFLOW__API__PORT=${AIRFLOW_PORT:-8080}
export AIRFLOW_URL=${AIRFLOW_URL:-http://127.0.0.1:$AIRFLOW__API__PORT}
# task processes report to the API server's execution API: it must follow the port
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$AIRFLOW_URL/execution/
pidfile=$AIRFLOW_HOME/standalone.pid
case "${1:-start}" in
  start)
    mkdir -p "$AIRFLOW_HOME"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "Airflow already running (pid $(cat "$pidfile"))"
    else
      setsid airflow standalone >"$AIRFLOW_HOME/standalone.log" 2>&1 < /dev/null &
      echo $! >"$pidfile"
    fi
    healthy=""
    # ~15 s on an idle laptop; minutes on a machine busy with other work
    for _ in $(seq 1 600); do
      if curl -fsS "$AIRFLOW_URL/api/v2/monitor/health" >/dev/null 2>&1; then healthy=1; break; fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
      sleep 1
    done
    if [ -z "$healthy" ]; then
      echo "Airflow did not become healthy; see $AIRFLOW_HOME/standalone.log" >&2; exit 1
    fi
    pw=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" \
         "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" 2>/dev/null || echo "see $AIRFLOW_HOME")
    echo "Airflow UI: $AIRFLOW_URL  login: admin / $pw  (CRM sync page: $AIRFLOW_URL/plugin/crm-sync; stop with: make stop)"
    ;;
  demo)
    python scripts/airflow_demo.py
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      group=$(cat "$pidfile")
      kill -TERM -- -"$group" 2>/dev/null || true
      for _ in $(seq 1 30); do  # the API server takes a while to drain
        kill -0 -- -"$group" 2>/dev/null || break
        sleep 1
      done
      kill -KILL -- -"$group" 2>/dev/null || true
      rm -f "$pidfile"
      echo "Airflow stopped"
    fi
    ;;
  *)
    echo "usage: $0 start|demo|stop" >&2; exit 2
    ;;
esac
