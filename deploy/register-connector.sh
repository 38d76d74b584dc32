#!/usr/bin/env bash
# Registers the Debezium PostgreSQL connector of deploy/docker-compose.yml: topics
# dbserver1.public.<table>, JSON without schemas, as configs/debezium-kafka-redis.toml reads.
set -euo pipefail
curl -fsS -X POST -H 'Content-Type: application/json' http://localhost:8083/connectors -d '{
  "name": "shop",
  "config": {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "plugin.name": "pgoutput",
    "database.hostname": "postgres",
    "database.port": "5432",
    "database.user": "postgres",
    "database.password": "postgres",
    "database.dbname": "shop",
    "topic.prefix": "dbserver1",
    "table.include.list": "public.customers",
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false"
  }
}'
echo
