#!/bin/sh
# silian-setup: the one-shot setup of a federation whose members run side by side (the
# compose file's `setup` service; docs/operations.md). For each member it makes a signing
# and a sealing key in that member's own key folder (encrypted with that member's
# passphrase), writes version 1 of the agreement from the members' public records, has
# every member sign it, checks it, then applies the topics. Running it again changes
# nothing that is done: keys and a signed agreement are kept, topics are applied again
# (which changes nothing either).
#
# Environment (the compose file sets it):
#   SILIAN_AGREEMENT_DIR                 the agreement folder to write (required)
#   SILIAN_SETUP_KEYS                    the folder holding one key folder per member, named
#                                        by its code (default /var/lib/silian/members)
#   SILIAN_SETUP_MEMBERS                 the members' codes (default: Jiangshan, Pucheng,
#                                        Guangfeng)
#   SILIAN_FEDERATION                    the federation's template (default jpg)
#   SILIAN_KEY_PASSPHRASE_<code>         each member's key passphrase (required: keys are
#                                        never written unencrypted here)
#   SILIAN_KAFKA_BOOTSTRAP               the brokers (without it: the embedded transport)
# Arguments are passed to `silian topics apply` (--replication 3 --min-insync 2).
set -eu

: "${SILIAN_AGREEMENT_DIR:?set SILIAN_AGREEMENT_DIR to the agreement folder}"
members=${SILIAN_SETUP_MEMBERS:-330881000000 350722000000 361103000000}
keys_root=${SILIAN_SETUP_KEYS:-/var/lib/silian/members}
federation=${SILIAN_FEDERATION:-jpg}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { echo "silian-setup: $*"; }

for code in $members; do
  keys="$keys_root/$code"
  # Only the public records leave a member's folder, gathered here for `agreement init`;
  # a member with none yet gets its keys first.
  if ! silian keys export --agency "$code" --keys "$keys" --out "$work/$code.json" >/dev/null 2>&1; then
    say "making the keys of $code in $keys"
    silian keys new --agency "$code" --keys "$keys" --passphrase-env "SILIAN_KEY_PASSPHRASE_$code"
    silian keys export --agency "$code" --keys "$keys" --out "$work/$code.json" >/dev/null
  fi
  silian keys import "$work/$code.json" --keys "$work/public" >/dev/null
done

if ! silian agreement show >/dev/null 2>&1; then
  say "writing version 1 of the $federation agreement in $SILIAN_AGREEMENT_DIR"
  silian agreement init --federation "$federation" --keys "$work/public"
fi
if ! silian agreement verify >/dev/null 2>&1; then
  for code in $members; do
    silian agreement sign --agency "$code" --keys "$keys_root/$code" \
      --passphrase-env "SILIAN_KEY_PASSPHRASE_$code"
  done
fi
silian agreement verify
silian topics apply "$@"
say "done"
