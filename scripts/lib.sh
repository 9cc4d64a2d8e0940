# Shared by the demo scripts (demo.sh, demo-ha.sh, demo-vm.sh); sourced, not
# run. The script sets LAB (the lab's name) before it calls inhost, and
# FAILED=0 before it calls bad.

# bold prints a step's heading; ok, bad and info its results (bad marks the
# demo as failed: the script exits non-zero at the end).
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ok() { printf '  \033[32m✔\033[0m %s\n' "$*"; }
bad() { printf '  \033[31m✘\033[0m %s\n' "$*"; FAILED=1; }
info() { printf '    %s\n' "$*"; }

# inhost HOST CMD...: runs CMD in the lab host's network namespace.
inhost() { local h=$1; shift; ip netns exec "pc-$LAB-$h" "$@"; }

# need_root TARGET WHAT: exits unless root, naming the make target and what
# it needs root for.
need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "make $1 needs root ($2): run it as root" >&2
		exit 1
	fi
}

# demo_token: a fresh API token for this run.
demo_token() { echo "demo-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
