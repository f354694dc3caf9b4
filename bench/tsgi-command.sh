# Sourced by bench scripts: TSGI=(the command that runs tsgi on runtime $1: node, bun or deno),
# the project's Node 24 for node; anything else is a usage error.
case ${1:-node} in
  node) TSGI=(scripts/node-lines/node_modules/node24/bin/node bin/tsgi.js) ;;
  bun) TSGI=(node_modules/.bin/bun bin/tsgi.js) ;;
  deno) TSGI=(node_modules/.bin/deno run -A bin/tsgi.js) ;;
  *) echo "usage: $0 node|bun|deno ${USAGE_MORE:-}" >&2; exit 2 ;;
esac
