#!/usr/bin/env bash
# The README's test command: installs what the tests need, runs jest once, and ends with
# the plain summary line CI reads ("N passed, N failed[, N skipped]").
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "mosquitto missing: installing it from Debian's packages" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; \
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; fi
fi
# Managed-mode simulator tests build the mosquitto auth plugin (simulator/mosquitto-plugin/) from source.
if [ ! -f /usr/include/mosquitto_broker.h ] || [ ! -f /usr/include/mosquitto.h ] || [ ! -f /usr/include/openssl/hmac.h ] || ! command -v cc >/dev/null 2>&1; then
  echo "mosquitto plugin build tools missing: installing mosquitto-dev, libmosquitto-dev, libssl-dev and gcc" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto-dev libmosquitto-dev libssl-dev gcc >/dev/null; \
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto-dev libmosquitto-dev libssl-dev gcc >/dev/null; fi
fi
if ! command -v openssl >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
mkdir -p .ci
rm -f .ci/jest-results.json
npx jest --ci --json --outputFile=.ci/jest-results.json "$@"
rc=$?
node scripts/summary.js .ci/jest-results.json || rc=1
exit $rc
