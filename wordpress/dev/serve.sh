# Sourced by up and restart: starts PHP's built-in server for the site in
# $1 (its folder holds site/, url) on its port, in the background, with
# several workers so webhook deliveries run beside requests, and waits
# until it answers.
allybridge_serve() {
  local dir="$1" url port
  url="$(cat "$dir/url")"
  port="${url##*:}"
  PHP_CLI_SERVER_WORKERS=4 nohup php -d display_errors=0 -S "127.0.0.1:$port" -t "$dir/site" </dev/null >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  for _ in $(seq 1 100); do
    if php -r 'exit(@file_get_contents($argv[1]) === false ? 1 : 0);' "$url/?rest_route=/" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "the site at $url did not answer; see $dir/server.log" >&2
  return 1
}
