#!/usr/bin/env bash
# The README's test command: installs what the tests need, runs the fast jest suite, then (when CI=true or
# ALINK_DEPLOY_TESTS=1) the deployment suite (test/deploy: the container under docker, the Debian package under
# systemd-nspawn; root, several minutes), and ends with the one plain summary line CI reads, summed over both
# ("N passed, N failed[, N skipped]").
#   bash scripts/test.sh [jest args]    fast suite; with jest args (a path, -t NAME) the deployment suite is left out
#   bash scripts/test.sh --deploy-only  the deployment suite alone (npm run test:deploy)
set -uo pipefail
cd "$(dirname "$0")/.."
fast=1
deploy=0
if [ "${1:-}" = --deploy-only ]; then fast=0; deploy=1; shift; fi
if [ $# -eq 0 ] && { [ "${CI:-}" = true ] || [ "${ALINK_DEPLOY_TESTS:-}" = 1 ]; }; then deploy=1; fi

if [ "$fast" = 1 ]; then
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
fi
mkdir -p .ci
results=()
rc=0
if [ "$fast" = 1 ]; then
  rm -f .ci/jest-results.json
  npx jest --ci --json --outputFile=.ci/jest-results.json "$@" || rc=1
  results+=(.ci/jest-results.json)
fi
if [ "$deploy" = 1 ]; then
  rm -f .ci/jest-deploy-results.json
  echo "deployment tests (test/deploy, several minutes each):" >&2
  start=$(date +%s)
  npx jest -c test/deploy/jest.config.js --ci --runInBand --json --outputFile=.ci/jest-deploy-results.json "$@" || rc=1
  echo "deployment tests took $(( $(date +%s) - start )) s" >&2
  results+=(.ci/jest-deploy-results.json)
fi
node scripts/summary.js "${results[@]}" || rc=1
exit $rc
