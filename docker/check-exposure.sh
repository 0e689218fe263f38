#!/bin/sh
# The compose stack's exposure check: run by the exposure-check service before the services that
# publish ports start (they depend on it completing successfully).
#
# Ports are published on FDE_BIND_ADDRESS (default 127.0.0.1: this machine only). Asking for a
# wider address (0.0.0.0, a LAN address) with a secret that is empty, still its default, or
# shorter than 12 characters is refused: the stack would then be open to the network with a
# password anyone can read in this repository.
#
# What this can and cannot enforce: compose cannot compare values while it reads the file, so the
# check runs when the stack starts (`docker compose up`). Starting one service with --no-deps, or
# editing the file, bypasses it: it is a guard rail against accidents, not a lock.
bind="${FDE_BIND_ADDRESS:-127.0.0.1}"
case "$bind" in
    127.*|localhost)
        echo "exposure check: ports are published on $bind (this machine only)"
        exit 0 ;;
esac

weak=""
check() {   # name, value, its default
    if [ -z "$2" ] || [ "$2" = "$3" ] || [ "${#2}" -lt 12 ]; then
        weak="$weak $1"
    fi
}
check POSTGRES_ADMIN_PASSWORD "${POSTGRES_ADMIN_PASSWORD:-}" fde-admin
check POSTGRES_PASSWORD "${POSTGRES_PASSWORD:-}" fde
check BANK_APP_PASSWORD "${BANK_APP_PASSWORD:-}" bank_app
check PGADMIN_DEFAULT_PASSWORD "${PGADMIN_DEFAULT_PASSWORD:-}" fde
check JUPYTER_TOKEN "${JUPYTER_TOKEN:-}" fde
check MAGE_ADMIN_PASSWORD "${MAGE_ADMIN_PASSWORD:-}" fde-mage

if [ -n "$weak" ]; then
    echo "exposure check: refusing to publish PostgreSQL, pgAdmin, JupyterLab and Mage on $bind:" >&2
    echo "  still default, empty or shorter than 12 characters:$weak" >&2
    echo "  set them in .env (or keep FDE_BIND_ADDRESS=127.0.0.1)" >&2
    exit 1
fi
echo "exposure check: ports are published on $bind; every secret is set"
