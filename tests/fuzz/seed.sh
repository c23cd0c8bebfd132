#!/usr/bin/env bash
# Fills tests/fuzz/corpus/<target>/ (not committed) with the committed hand-written seeds and the
# real metadata bodies of tests/fixtures: Azure and GCP documents, OCI VNIC lists, the EC2 and
# Alibaba flat maps (the very format ec2_parse and alibaba_parse read), the DigitalOcean
# documents and the packaged default config.
# Usage: tests/fuzz/seed.sh        FIXTURES=/other/fixtures tests/fuzz/seed.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="${FIXTURES:-$here/../fixtures}"
corpus="$here/corpus"
targets=(azure_parse gcp_parse oracle_parse digitalocean_parse ec2_parse alibaba_parse ec2_listing config_parse duration_parse api_request)

for target in "${targets[@]}"; do
  mkdir -p "$corpus/$target"
  cp "$here/seeds/$target/"* "$corpus/$target/"
done
cp "$here/../../packaging/cloud-network.toml" "$corpus/config_parse/packaged-default.toml"
cp "$here/../fixtures/digitalocean/"*.json "$corpus/digitalocean_parse/"

if [ ! -d "$fixtures" ]; then
  echo "seed.sh: no fixtures at $fixtures; corpora hold the committed seeds only" >&2
  exit 0
fi
cp "$fixtures"/azure/*.json "$corpus/azure_parse/"
cp "$fixtures"/gcp/*.json "$corpus/gcp_parse/"
cp "$fixtures"/oci/*-vnics-*.json "$corpus/oracle_parse/"
for dir in "$fixtures"/ec2/*/; do
  cp "$dir/metadata.json" "$corpus/ec2_parse/ec2-$(basename "$dir").json"
done
for dir in "$fixtures"/alibaba/*/; do
  cp "$dir/metadata.json" "$corpus/alibaba_parse/alibaba-$(basename "$dir").json"
done
cp "$here/../../src/emulator/scenarios/alibaba.json" "$corpus/alibaba_parse/emulator-builtin.json"
echo "seed.sh: corpora seeded in $corpus"
