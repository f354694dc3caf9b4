# Sourced by the bench scripts: a work directory $W and one nginx (1 worker, as www-data) on
# 127.0.0.1:$PORT passing everything to unix:$W/app.sock with the stock uwsgi_params — or, when
# the script sets NGINX_SERVERS (a function that prints server and upstream blocks), those.
# Cleans up nginx, the backend in $SRV and $W on exit.
W=$(mktemp -d /tmp/tsgi-bench-XXXX)
chmod 755 "$W"
for d in body proxy fastcgi uwsgi scgi; do mkdir -p "$W/$d"; chmod 777 "$W/$d"; done
cleanup() {
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
  [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null || true
  sleep 1
  rm -rf "$W"
}
trap cleanup EXIT
cat > "$W/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/body; proxy_temp_path $W/proxy; fastcgi_temp_path $W/fastcgi;
  uwsgi_temp_path $W/uwsgi; scgi_temp_path $W/scgi;
$(if [ -n "${NGINX_SERVERS:-}" ]; then "$NGINX_SERVERS"; else
  echo "  server { listen 127.0.0.1:$PORT; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$W/app.sock; } }"; fi)
}
CONF
nginx -p "$W" -c "$W/nginx.conf" -e "$W/error.log"
