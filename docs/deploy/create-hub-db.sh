#!/usr/bin/env bash
# Run once by the postgres image on an empty data directory: the hub's own role and database next to Airflow's.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v hub_password="$HUB_DB_PASSWORD" <<'SQL'
CREATE ROLE crmhub LOGIN PASSWORD :'hub_password';
CREATE DATABASE crmhub OWNER crmhub;
SQL
