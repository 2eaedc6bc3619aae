"""Connection settings for Airflow's own SQLite metadata database in the one-machine demo (``make run``, tests).

Every Airflow process (scheduler, DAG processor, triggerer, API server, each task's supervisor) writes to the one
SQLite file. sqlite3 gives up on a lock after 5 s; on a busy machine a component then dies with "database is
locked", and ``airflow standalone`` does not restart it, so no task runs again. Waiting longer is all it takes.
Used through ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=airflow_sqlite.CONNECT_ARGS`` (and ``..._ASYNC``).
Not a plugin: a settings module that lives on the plugins path because every Airflow process imports from it.
"""

CONNECT_ARGS = {"timeout": 120}
